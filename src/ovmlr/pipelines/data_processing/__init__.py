"""The ``data_processing`` pipeline: raw dataset release -> image manifest, labels, categories."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
