"""Cross-modal alignment functions beyond the plain cosine.

Modules: ``pico`` (PICO, Ma et al. 2025: per-dimension semantic weights estimated from iteratively built
prototypes, and the weighted cosine that uses them). Shape letters as in :mod:`ovmlr.models`.
"""

from ovmlr.alignment.pico import (
    PICOConfig,
    PICOWeights,
    fit_pico,
    semantic_probability,
    semantic_weights,
    weighted_cosine,
)

__all__ = [
    "PICOConfig",
    "PICOWeights",
    "fit_pico",
    "semantic_probability",
    "semantic_weights",
    "weighted_cosine",
]
