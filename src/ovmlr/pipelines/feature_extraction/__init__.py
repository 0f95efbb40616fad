"""Frozen-backbone features: cached image embeddings (global + patches) and category text features."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
