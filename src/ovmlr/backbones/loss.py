"""Contrastive losses of the demo backbone for batches in which a caption describes several images.

In a batch of multi-item canvases, "a drawing of animal." describes every canvas with an animal on it. The
standard CLIP target (the diagonal) would push those canvases away from the caption: a false negative for
every other animal in the batch. Both losses here take the mask of positives instead
(:func:`ovmlr.backbones.captions.caption_positives`):

* :class:`MultiPositiveClipLoss`: open_clip's ``ClipLoss`` with soft targets spread over the positives;
* :class:`SigmoidPairLoss`: SigLIP's pairwise sigmoid loss with the mask as the labels (every pair an
  independent binary decision, which suits multi-label canvases).

Shapes: B images (canvases), T texts (the B captions drawn for them, optionally followed by the category
prompts of the vocabulary), D embedding dims.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip import ClipLoss
from torch import nn


class MultiPositiveClipLoss(ClipLoss):
    """``ClipLoss`` with several positives per image and per text.

    .. math::
        \\mathcal{L} = \\tfrac{1}{2}\\big(\\mathrm{CE}(s\\, I T^\\top, Y^{r})
            + \\mathrm{CE}(s\\, T I^\\top, Y^{c})\\big),
        \\quad Y^{r}_{ij} = \\frac{M_{ij}}{\\sum_k M_{ik}},\\; Y^{c}_{ji} = \\frac{M_{ij}}{\\sum_k M_{kj}}

    with ``s`` the logit scale and ``M`` the positives (``M[i, j]``: text j describes image i). The texts may
    outnumber the images (the batch's captions plus the category prompts of the whole vocabulary): a text
    that describes no image of the batch has no target and is left out of the text-to-image term. With
    ``M`` the identity this is exactly ``ClipLoss``. Logits come from ``ClipLoss.get_logits``.

    Shapes:
        image_features ``[B, D]``, text_features ``[T, D]``, positives ``[B, T]`` bool -> scalar.
    """

    def forward(  # type: ignore[override]
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        positives: torch.Tensor,
    ) -> torch.Tensor:
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        mask = check_positives(positives, *logits_per_image.shape).to(logits_per_image.device).float()
        described = mask.sum(dim=0) > 0  # [T]
        image_targets = mask / mask.sum(dim=1, keepdim=True)
        text_targets = mask.T[described] / mask.T[described].sum(dim=1, keepdim=True)
        return (
            F.cross_entropy(logits_per_image, image_targets)
            + F.cross_entropy(logits_per_text[described], text_targets)
        ) / 2


class SigmoidPairLoss(nn.Module):
    """SigLIP's pairwise sigmoid loss (Zhai et al., 2023) with a mask of positives as the labels.

    .. math::
        \\mathcal{L} = -\\frac{1}{B} \\sum_{i,j} \\log \\sigma\\big(z_{ij} (s\\, I_i \\cdot T_j + b)\\big),
        \\quad z_{ij} = 2 M_{ij} - 1

    Shapes:
        image_features ``[B, D]``, text_features ``[T, D]``, positives ``[B, T]`` bool -> scalar.
    """

    def forward(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor,
        positives: torch.Tensor,
    ) -> torch.Tensor:
        logits = logit_scale * image_features @ text_features.T + logit_bias  # [B, B]
        mask = check_positives(positives, *logits.shape).to(logits.device)
        signs = mask.float() * 2 - 1
        return -F.logsigmoid(signs * logits).sum() / logits.shape[0]


def check_positives(positives: torch.Tensor, images: int, texts: int) -> torch.Tensor:
    """``positives`` as a bool mask if it is ``[B, T]`` and every image has a positive text.

    Raises:
        ValueError: Wrong shape, or an image without a positive (its soft target is undefined).
    """
    if positives.shape != (images, texts):
        raise ValueError(f"positives must have shape [{images}, {texts}], got {tuple(positives.shape)}")
    mask = positives.bool()
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every image needs at least one positive text (its own caption)")
    return mask


def same_class_positives(class_ids: torch.Tensor) -> torch.Tensor:
    """``[B, B]`` bool: items of the same class are positives of each other."""
    return class_ids[:, None] == class_ids[None, :]
