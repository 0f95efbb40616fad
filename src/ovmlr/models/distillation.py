"""Knowledge distillation of the student image encoder towards the frozen VLP, Eq. (2)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def distillation_loss(student_global: Tensor, teacher_global: Tensor, normalize: bool = False) -> Tensor:
    r"""L1 distillation loss of Eq. (2), :math:`\|f_G - f_G^{CLIP}\|_1`, averaged over the batch.

    The teacher features (cached from the frozen backbone) are detached. With ``normalize=False`` (default)
    the features are compared as they are, as in the paper and MKT (whose ``F.l1_loss`` is this value
    divided by D); pass ``normalize=True`` to L2-normalise both first, which is the right choice when the
    cached teacher features were stored L2-normalised.

    Args:
        student_global: Global features of the trainable encoder.
        teacher_global: Global features of the frozen VLP for the same images.
        normalize: L2-normalise both feature sets before comparing them.

    Returns:
        Scalar: mean over the B images of the per-image L1 norm (sum over D of absolute differences).

    Shapes:
        student_global, teacher_global: [B, D] → []
    """
    if student_global.shape != teacher_global.shape or student_global.dim() != 2:
        raise ValueError(
            f"student and teacher global features must both be [B, D], got {tuple(student_global.shape)} "
            f"and {tuple(teacher_global.shape)}"
        )
    teacher = teacher_global.detach().to(student_global.dtype)
    student = student_global
    if normalize:
        student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    return (student - teacher).abs().sum(dim=-1).mean()
