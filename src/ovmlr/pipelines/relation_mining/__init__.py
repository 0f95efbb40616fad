"""LLM relation mining for IST's inter-category graph (C²SRT Sec. 3.4, Supplement B.3)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
