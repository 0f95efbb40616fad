"""Training of C²SRT on cached backbone features, tracked and registered in MLflow."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
