"""Knowledge distillation of the student image encoder towards the frozen VLP, Eq. (2)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

REDUCTIONS = ("mean", "sum")


def distillation_loss(
    student_global: Tensor, teacher_global: Tensor, normalize: bool = False, reduction: str = "mean"
) -> Tensor:
    r"""L1 distillation loss of Eq. (2), :math:`\|f_G - f_G^{CLIP}\|_1`, averaged over the batch.

    **Scale (what λ of Eq. 12 multiplies).** ``reduction="mean"`` (default) averages the absolute
    differences over the D feature dimensions as well: MKT's ``F.l1_loss(student, teacher)``, the code the
    paper builds on, so λ = 1 weighs the two losses as there (the ranking loss is a mean over pairs, and this
    is a mean over dimensions, both O(1)). ``reduction="sum"`` is Eq. (2) read literally, D times larger
    (512× for ViT-B/16): the same λ then distils 512× harder. Fig. 9's λ sweep is run on the ``mean`` scale.

    The teacher features are detached. With ``normalize=False`` (default) the features are compared as they
    are, as in the paper and MKT; ``normalize=True`` L2-normalises both first.

    Args:
        student_global: Global features of the trainable encoder.
        teacher_global: Global features of the frozen VLP for the same images (the same view).
        normalize: L2-normalise both feature sets before comparing them.
        reduction: ``mean`` (over D, MKT) or ``sum`` (over D, Eq. 2 literally); always a mean over B.

    Returns:
        Scalar: mean over the B images of the per-image L1 distance (mean or sum over D).

    Shapes:
        student_global, teacher_global: [B, D] → []
    """
    if student_global.shape != teacher_global.shape or student_global.dim() != 2:
        raise ValueError(
            f"student and teacher global features must both be [B, D], got {tuple(student_global.shape)} "
            f"and {tuple(teacher_global.shape)}"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"distillation reduction must be one of {REDUCTIONS}, got {reduction!r}")
    teacher = teacher_global.detach().to(student_global.dtype)
    student = student_global
    if normalize:
        student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    distance = (student - teacher).abs()
    return (distance.mean(dim=-1) if reduction == "mean" else distance.sum(dim=-1)).mean()
