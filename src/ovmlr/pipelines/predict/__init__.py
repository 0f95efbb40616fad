"""The ``predict`` pipeline: a trained model tags a folder of images with any label names."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
