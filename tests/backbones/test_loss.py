"""MultiPositiveClipLoss: equals open_clip's ClipLoss without duplicate classes; hand-worked soft targets."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip import ClipLoss

from ovmlr.backbones.loss import MultiPositiveClipLoss


def _features(seed: int, n: int = 5, d: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(n, d, generator=g), dim=-1).requires_grad_(True)
    text = F.normalize(torch.randn(n, d, generator=g), dim=-1).requires_grad_(True)
    return image, text


def test_distinct_classes_give_exactly_clip_loss_forward_and_backward():
    image, text = _features(0)
    scale = torch.tensor(10.0)
    ours = MultiPositiveClipLoss()(image, text, scale, torch.arange(5))
    image_ref, text_ref = (
        image.detach().clone().requires_grad_(True),
        text.detach().clone().requires_grad_(True),
    )
    reference = ClipLoss()(image_ref, text_ref, scale)
    torch.testing.assert_close(ours, reference)
    ours.backward()
    reference.backward()
    torch.testing.assert_close(image.grad, image_ref.grad)
    torch.testing.assert_close(text.grad, text_ref.grad)


def test_same_class_pairs_share_the_target_mass():
    image = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    loss = MultiPositiveClipLoss()(image, text, torch.tensor(1.0), torch.tensor([4, 4, 7]))
    # rows 0, 1: logits (1, 1, 0), targets (1/2, 1/2, 0); row 2: logits (0, 0, 1), target (0, 0, 1)
    row01 = -math.log(math.e / (2 * math.e + 1))
    row2 = -math.log(math.e / (math.e + 2))
    expected = (2 * row01 + row2) / 3  # both directions are equal here (symmetric logits)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_class_ids_must_match_the_batch():
    image, text = _features(1)
    with pytest.raises(ValueError, match=r"class_ids must have shape \[5\]"):
        MultiPositiveClipLoss()(image, text, torch.tensor(1.0), torch.arange(4))
