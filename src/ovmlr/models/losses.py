"""Classification loss of C²SRT: the pairwise ranking loss of Eq. (11) and the total loss of Eq. (12)."""

from __future__ import annotations

import torch
from torch import Tensor

PAIR_NORMALIZATIONS = ("valid", "violating")


def _positive_slots(positive: Tensor) -> tuple[Tensor, Tensor]:
    """Indices of each image's positives, padded to the batch maximum, and which slots are real.

    Shapes:
        positive: [B, C] bool → indices [B, M] long, valid [B, M] bool (M = most positives in one image)
    """
    n_max = int(positive.sum(dim=1).max()) if positive.numel() else 0
    ordered, index = positive.to(torch.int8).sort(dim=1, descending=True, stable=True)
    return index[:, :n_max], ordered[:, :n_max].bool()


def ranking_loss(
    logits: Tensor, labels: Tensor, margin: float = 1.0, pair_normalization: str = "valid"
) -> Tensor:
    r"""Pairwise hinge ranking loss, Eq. (11), with the sign that ranks positives *above* negatives.

    .. math::
        L_{cls} = \sum_k \frac{1}{Z_k} \sum_{p \in pos_k,\; n \in neg_k}
        \max(0,\; m - \hat{y}_p^{(k)} + \hat{y}_n^{(k)})

    The printed Eq. (11) reads :math:`\max(\hat{y}_p - \hat{y}_n + 1, 0)`, which would push positives *down*;
    the text ("positives ranked higher than negatives by a margin of 1") and the BiAM / MKT code this follows
    use :math:`\max(0, 1 - \hat{y}_p + \hat{y}_n)`, implemented here.

    Labels ``-1`` (unknown) are neither positive nor negative. The margin acts on ``logits`` as given: the
    C²SRT head returns ``score.scale · cos`` (scale 1 by default, so the margin is on raw cosines in
    [-1, 1]; MKT applies it to per-image L2-normalised score vectors).

    Reduction: per image, the hinge is summed over its valid (positive, negative) pairs and divided by
    :math:`Z_k`, the number of valid pairs (``pair_normalization="valid"``, default: Eq. 11 with every image
    weighted equally, a smooth objective) or the number of *violating* pairs (hinge > 0, ``"violating"``:
    BiAM / MKT's ``ranking_lossT``, which keeps the gradient of the remaining hard pairs large but makes
    the loss value jump whenever a pair stops violating); then averaged over the images that have at least
    one valid pair. A batch without any valid pair gives 0 (still attached to the graph).

    Vectorised over a [B, M, C] tensor, M = the most positives of any image in the batch (not [B, C, C]).

    Args:
        logits: Prediction scores :math:`\hat{y}`.
        labels: ``1`` positive, ``0`` negative, ``-1`` unknown.
        margin: The hinge margin m (paper: 1).
        pair_normalization: ``"valid"`` or ``"violating"`` (see Reduction).

    Returns:
        Scalar loss.

    Shapes:
        logits, labels: [B, C] → []
    """
    if logits.shape != labels.shape or logits.dim() != 2:
        raise ValueError(
            f"logits and labels must both be [B, C], got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if pair_normalization not in PAIR_NORMALIZATIONS:
        raise ValueError(f"pair_normalization must be in {PAIR_NORMALIZATIONS}, got {pair_normalization!r}")
    if ((labels != 1) & (labels != 0) & (labels != -1)).any():
        raise ValueError(f"labels must be 1, 0 or -1, got values {sorted(labels.unique().tolist())}")
    index, slot_valid = _positive_slots(labels == 1)
    positive_scores = logits.gather(1, index)  # [B, M]
    pair_valid = slot_valid.unsqueeze(2) & (labels == 0).unsqueeze(1)  # [B, M, C]
    hinge = (margin - positive_scores.unsqueeze(2) + logits.unsqueeze(1)).clamp(min=0) * pair_valid
    counted = pair_valid & (hinge > 0) if pair_normalization == "violating" else pair_valid
    per_image = hinge.sum(dim=(1, 2)) / counted.sum(dim=(1, 2)).clamp(min=1)  # [B]
    has_pair = pair_valid.any(dim=2).any(dim=1)
    if not has_pair.any():
        return logits.sum() * 0.0
    return per_image[has_pair].mean()


def total_loss(classification: Tensor, distillation: Tensor | None, lambda_dist: float) -> Tensor:
    r"""Eq. (12): :math:`L = L_{cls} + \lambda L_{dist}`.

    Args:
        classification: Ranking loss of Eq. (11), a scalar.
        distillation: Distillation loss of Eq. (2), a scalar, or ``None`` with a frozen encoder.
        lambda_dist: λ, weight of the distillation term (>= 0).

    Returns:
        The scalar training loss (``classification`` alone when ``distillation`` is ``None``).
    """
    if lambda_dist < 0:
        raise ValueError(f"lambda_dist must be >= 0, got {lambda_dist}")
    if distillation is None:
        return classification
    return classification + lambda_dist * distillation
