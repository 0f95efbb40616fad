"""The paper's ablations (Tables 3-5) and baselines as parameter overrides of the training recipe."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
