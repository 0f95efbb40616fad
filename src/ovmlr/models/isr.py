"""Intra-category semantic refinement (ISR), Sec. 3.3, Eq. (4)-(5) and Algorithm 1 of Supplement B.2.

For every image and category, the patches most similar to the category's text feature are taken in
descending order of their softmax score until the scores taken add up to α, or N patches are taken; the
patch whose score crosses α is included, as in Algorithm 1 (so at least one patch is always taken). The
selected patch features are pooled into the category-specific local feature :math:`f_L^{(c)}`.

**Temperature.** The softmax of Eq. (4) over raw cosines in [-1, 1] is nearly flat over P = 196 patches
(every score ≈ 1/P), so α = 0.5 would always hit the N cap. The cosines are therefore multiplied by a
temperature before the softmax, by default the backbone's CLIP logit scale (100 for OpenAI ViT-B/16), the
same sharpening CLIP uses for its own image-text softmax.

**Endpoints** (Fig. 5: "α = 1 corresponds to utilizing all local features, and α = 0 denotes the exclusion
of local features"): α = 0 selects no patch (the C²SRT head then uses :math:`f_G` alone, as with ISR off)
and α = 1 selects all P patches, the N cap included (Algorithm 1 read literally would still keep one patch at
α = 0 and stop at N at α = 1, or short of P when float rounding makes the cumulative mass reach 1 early).

Vectorised over B × C × P with one sort, one cumsum and a scatter (no loop over categories); categories
may be processed in chunks to bound the [B, C, P] temporaries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovmlr.models.config import ISRConfig


def patch_scores(patch_feats: Tensor, text_feats: Tensor, temperature: float) -> Tensor:
    """Softmax over patches of the temperature-scaled cosine similarities, Eq. (4).

    Args:
        patch_feats: Patch features :math:`F_p` (any norm).
        text_feats: Category text features :math:`f_{txt}` (any norm).
        temperature: Multiplier of the cosines before the softmax.

    Returns:
        Semantic matching scores :math:`S^{(c)}`, summing to 1 over P (float32).

    Shapes:
        patch_feats: [B, P, D], text_feats: [C, D] → [B, C, P]
    """
    cosine = torch.einsum("bpd,cd->bcp", F.normalize(patch_feats, dim=-1), F.normalize(text_feats, dim=-1))
    return torch.softmax(temperature * cosine.float(), dim=-1)


def select_top_k(scores: Tensor, k: int) -> Tensor:
    """MKT's fixed selection: the k best patches of every category (all P when k >= P).

    Shapes:
        scores: [B, C, P] → [B, C, P] bool
    """
    k = min(k, scores.shape[-1])
    index = scores.topk(k, dim=-1).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter(-1, index, True)


def select_patches(scores: Tensor, alpha: float, max_patches: int) -> Tensor:
    """Algorithm 1's selection: top patches until their cumulative score reaches α, at most N of them.

    Patch k_i (i-th in descending order; ties broken by lower patch index) is kept iff i = 1, or the
    scores of k_1..k_{i-1} add up to less than α and i <= N. The endpoints follow Fig. 5: α = 0 keeps no
    patch, α >= 1 keeps all P (the cap does not apply).

    Args:
        scores: Softmax scores from :func:`patch_scores`.
        alpha: Threshold α in [0, 1].
        max_patches: Cap N (>= 1; values above P mean "no cap").

    Returns:
        Boolean selection mask in the original patch order.

    Shapes:
        scores: [B, C, P] → [B, C, P]
    """
    if alpha <= 0.0:
        return torch.zeros_like(scores, dtype=torch.bool)
    if alpha >= 1.0:
        return torch.ones_like(scores, dtype=torch.bool)
    sorted_scores, order = scores.sort(dim=-1, descending=True, stable=True)
    mass_before = F.pad(sorted_scores.cumsum(dim=-1)[..., :-1], (1, 0))  # Σ_{j<i} s_{k_j}
    rank = torch.arange(scores.shape[-1], device=scores.device)
    keep_sorted = ((mass_before < alpha) | (rank == 0)) & (rank < max_patches)
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def pool_patches(patch_feats: Tensor, mask: Tensor, scores: Tensor, pooling: str) -> Tensor:
    """Pool the selected patches into :math:`f_L^{(c)}`, Eq. (5).

    Args:
        patch_feats: Patch features (pooled as given).
        mask: Selection from :func:`select_patches`.
        scores: Softmax scores; used by ``"weighted"`` pooling (renormalised over the selection).
        pooling: ``"mean"`` or ``"weighted"``.

    Returns:
        Category-specific local features.

    Shapes:
        patch_feats: [B, P, D], mask: [B, C, P], scores: [B, C, P] → [B, C, D]
    """
    weights = pooling_weights(mask, scores, pooling)
    return torch.einsum("bcp,bpd->bcd", weights.to(patch_feats.dtype), patch_feats)


def pooling_weights(mask: Tensor, scores: Tensor, pooling: str) -> Tensor:
    """The weight of every patch in :math:`f_L^{(c)}` (Eq. 5): 0 off the selection, summing to 1 over it.

    ``"mean"``: uniform over the selected patches; ``"weighted"``: their softmax scores, renormalised. What
    an explanation of a label draws as its heat map.

    Shapes:
        mask: [B, C, P], scores: [B, C, P] → [B, C, P]
    """
    weights = mask.to(scores.dtype) if pooling == "mean" else scores * mask
    return weights / weights.sum(dim=-1, keepdim=True)


class ISR(nn.Module):
    r"""Intra-category semantic refinement: category-adaptive local features (no trainable parameters).

    Args:
        config: α, N, pooling, chunk size; ``config.temperature`` must be resolved (not ``None``).

    Shapes:
        - **input:** patch features :math:`(B, P, D)`, text features :math:`(C, D)`
        - **output:** local features :math:`f_L` :math:`(B, C, D)`, selection mask :math:`(B, C, P)`
    """

    def __init__(self, config: ISRConfig) -> None:
        super().__init__()
        if config.temperature is None:
            raise ValueError(
                "ISR needs a temperature: set isr.temperature or pass the backbone's logit scale"
            )
        self.config = config

    def forward(self, patch_feats: Tensor, text_feats: Tensor) -> tuple[Tensor, Tensor]:
        """Local features and selection mask, chunked over categories if ``config.chunk_size`` is set."""
        n_categories = text_feats.shape[0]
        step = self.config.chunk_size or max(n_categories, 1)
        locals_, masks = [], []
        for start in range(0, n_categories, step):
            chunk = text_feats[start : start + step]
            scores = patch_scores(patch_feats, chunk, self.config.temperature)
            if self.config.selection == "top_k":
                mask = select_top_k(scores, self.config.max_patches)
            else:
                mask = select_patches(scores, self.config.alpha, self.config.max_patches)
            locals_.append(pool_patches(patch_feats, mask, scores, self.config.pooling))
            masks.append(mask)
        return torch.cat(locals_, dim=1), torch.cat(masks, dim=1)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"alpha={c.alpha}, max_patches={c.max_patches}, temperature={c.temperature}, pooling={c.pooling}"
        )
