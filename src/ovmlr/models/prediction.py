"""Category scores of C²SRT, Eq. (10): scaled cosine of a node feature with its category's text feature,
optionally ensembled with the zero-shot score at inference."""

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


def zero_shot_ensemble(cosine: Tensor, zero_shot: Tensor, weight: float) -> Tensor:
    r"""Output-space ensemble of Eq. (10) with the backbone's zero-shot score (``score.zero_shot_weight``).

    .. math::
        \hat{y}_c = (1 - w) \cos(h_l^{(c)}, f_{txt}^{(c)}) + w \cos(f_G, f_{txt}^{(c)})

    Not in the paper. A head trained on a few seen categories can rank images for an *unseen* category worse
    than the zero-shot classifier it started from (``benchmarks/diagnose_zsl.py``, Fashion-MNIST demo with 7
    seen categories); mixing the two scores at inference is WiSE-FT's output-space ensemble
    (Wortsman et al., CVPR 2022) and ViLD's ensemble with the VLP classifier (Gu et al., ICLR 2022). Both
    terms are cosines; ``w`` weighs them as they are (the trained cosines spread wider than CLIP's), so it is
    chosen on the validation split.

    Args:
        cosine: Eq. (10) cosines of the head.
        zero_shot: Zero-shot cosines :math:`\cos(f_G, f_{txt}^{(c)})`.
        weight: w in [0, 1]; 0 returns ``cosine``, 1 the zero-shot score.

    Returns:
        The blended scores.

    Shapes:
        cosine, zero_shot: [B, C] → [B, C]
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"zero-shot ensemble weight must be in [0, 1], got {weight}")
    return (1.0 - weight) * cosine + weight * zero_shot


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
