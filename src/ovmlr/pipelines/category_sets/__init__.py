"""The ``category_sets`` pipeline: seen/unseen partition, per-split label tables, category summary."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
