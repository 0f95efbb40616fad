"""Contrastive loss of the demo backbone: open_clip's ``ClipLoss`` with several positives per row."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip import ClipLoss


class MultiPositiveClipLoss(ClipLoss):
    """``ClipLoss`` for batches in which many image-caption pairs share a class.

    With 10 classes, a batch of 128 Fashion-MNIST items holds ~13 items per class; the standard CLIP target
    (the diagonal) would push an image away from the captions of the *other* items of its own class. Here
    every caption of the same class is a positive, with equal weight (soft cross-entropy targets):

    .. math::
        \\mathcal{L} = \\tfrac{1}{2}\\big(\\mathrm{CE}(s\\, I T^\\top, Y)
            + \\mathrm{CE}(s\\, T I^\\top, Y)\\big),
        \\quad Y_{ij} = \\frac{[y_i = y_j]}{\\sum_k [y_i = y_k]}

    with ``s`` the logit scale. When all classes in a batch differ, ``Y`` is the identity and the loss is
    exactly ``ClipLoss``. Logits come from ``ClipLoss.get_logits``; only the ground truth changes.

    Shapes:
        image_features ``[B, D]``, text_features ``[B, D]`` (row i is the caption of image i),
        class_ids ``[B]`` -> scalar.
    """

    def get_ground_truth(
        self, device: torch.device, num_logits: int, class_ids: torch.Tensor
    ) -> torch.Tensor:  # type: ignore[override]
        """Row-normalised same-class matrix ``Y`` ``[B, B]``."""
        if class_ids.shape != (num_logits,):
            raise ValueError(f"class_ids must have shape [{num_logits}], got {tuple(class_ids.shape)}")
        same = (class_ids[:, None] == class_ids[None, :]).to(device=device, dtype=torch.float32)
        return same / same.sum(dim=1, keepdim=True)

    def forward(  # type: ignore[override]
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        class_ids: torch.Tensor,
    ) -> torch.Tensor:
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        targets = self.get_ground_truth(image_features.device, logits_per_image.shape[0], class_ids)
        return (F.cross_entropy(logits_per_image, targets) + F.cross_entropy(logits_per_text, targets)) / 2
