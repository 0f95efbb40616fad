"""Where tensors run: one resolution of the ``device`` parameters."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
