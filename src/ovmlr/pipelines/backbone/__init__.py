"""The frozen vision-language backbone: the offline demo backbone (shipped, or trained), its spec and info;
``create_release_pipeline`` makes the shipped release (``make backbone``)."""

from .pipeline import create_pipeline, create_release_pipeline

__all__ = ["create_pipeline", "create_release_pipeline"]
