"""The ``multimodal`` stage: CSCF with CAL / OGM-GE balancing (issue #13)."""

from .pipeline import create_default_modalities_pipeline, create_fit_pipeline, create_pipeline

__all__ = ["create_default_modalities_pipeline", "create_fit_pipeline", "create_pipeline"]
