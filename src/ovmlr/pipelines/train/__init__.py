"""``kedro run --pipeline=train``: every stage from raw data to a registered model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
