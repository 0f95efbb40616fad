"""Category scores of C²SRT, Eq. (10): scaled cosine of a node feature with its category's text feature."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovmlr.models.config import ScoreConfig


def category_cosine(node_feats: Tensor, text_feats: Tensor) -> Tensor:
    r"""Eq. (10): :math:`\cos(h^{(c)}, f_{txt}^{(c)})` for every image and category (its own text only).

    Args:
        node_feats: Per-image, per-category features (:math:`h_l` or :math:`f_{img}`).
        text_feats: Category text features.

    Returns:
        Cosine similarities in [-1, 1].

    Shapes:
        node_feats: [B, C, D], text_feats: [C, D] → [B, C]
    """
    return (F.normalize(node_feats, dim=-1) * F.normalize(text_feats, dim=-1)).sum(dim=-1)


class ScoreScale(nn.Module):
    """Multiplier of the cosine scores: fixed (a buffer) or learnable (a parameter, stored as its log).

    A learnable scale lets the ranking hinge be lowered by stretching every score, so it is off by default and
    the margin acts on raw cosines (scale 1).

    Shapes:
        - **input:** cosines :math:`(B, C)` → **output:** logits :math:`(B, C)`
    """

    def __init__(self, config: ScoreConfig) -> None:
        super().__init__()
        log_scale = torch.tensor(math.log(config.scale))
        if config.learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)
        self.learnable = config.learnable

    def forward(self, cosine: Tensor) -> Tensor:
        """``exp(log_scale) · cosine``."""
        return self.log_scale.exp() * cosine

    def extra_repr(self) -> str:
        return f"scale={self.log_scale.exp().item():.4g}, learnable={self.learnable}"
