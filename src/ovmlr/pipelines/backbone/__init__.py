"""The frozen vision-language backbone: the offline demo backbone (trained once), its spec and info."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
