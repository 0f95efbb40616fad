"""Training-free baselines scored from the same frozen features as C²SRT (Table 3, first row; MKT)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def zero_shot_scores(global_feats: Tensor, text_feats: Tensor) -> Tensor:
    """CLIP zero-shot: cosine similarity of the global image feature with every category's text feature.

    Shapes:
        global_feats: [B, D], text_feats: [C, D] → [B, C]
    """
    return F.normalize(global_feats, dim=-1) @ F.normalize(text_feats, dim=-1).T


def mkt_style_scores(global_feats: Tensor, patch_feats: Tensor, text_feats: Tensor, k: int = 16) -> Tensor:
    """MKT's two-stream score (He et al., 2023): mean of the top-k patch similarities and the global one.

    As in MKT's evaluation code, each image's two score vectors are L2-normalised over the categories before
    they are averaged. This makes a score depend on the vocabulary it is computed over: MKT computes ZSL
    scores over the unseen vocabulary alone; called on seen + unseen, the ZSL columns are normalised jointly
    with the seen ones (rankings within an image are unchanged). Features are L2-normalised first (cosines),
    where MKT uses raw projected tokens.

    Args:
        global_feats: Global image features.
        patch_feats: Projected patch tokens.
        text_feats: Category text features.
        k: Patches averaged per category (MKT: 16 of 196); must be <= P.

    Returns:
        Scores.

    Shapes:
        global_feats: [B, D], patch_feats: [B, P, D], text_feats: [C, D] → [B, C]
    """
    if not 1 <= k <= patch_feats.shape[1]:
        raise ValueError(f"k must be in [1, P={patch_feats.shape[1]}], got {k}")
    text = F.normalize(text_feats, dim=-1)
    patch_sim = F.normalize(patch_feats, dim=-1) @ text.T  # [B, P, C]
    local = patch_sim.topk(k, dim=1).values.mean(dim=1)  # [B, C]
    global_ = F.normalize(global_feats, dim=-1) @ text.T  # [B, C]
    return (F.normalize(local, dim=-1) + F.normalize(global_, dim=-1)) / 2
