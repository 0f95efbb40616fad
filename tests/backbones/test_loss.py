"""MultiPositiveClipLoss: equals open_clip's ClipLoss without duplicate classes; hand-worked soft targets."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip import ClipLoss

from ovmlr.backbones.loss import MultiPositiveClipLoss, SigmoidPairLoss, same_class_positives


def _features(seed: int, n: int = 5, d: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(n, d, generator=g), dim=-1).requires_grad_(True)
    text = F.normalize(torch.randn(n, d, generator=g), dim=-1).requires_grad_(True)
    return image, text


def test_distinct_classes_give_exactly_clip_loss_forward_and_backward():
    image, text = _features(0)
    scale = torch.tensor(10.0)
    ours = MultiPositiveClipLoss()(image, text, scale, torch.eye(5, dtype=torch.bool))
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
    loss = MultiPositiveClipLoss()(
        image, text, torch.tensor(1.0), same_class_positives(torch.tensor([4, 4, 7]))
    )
    # rows 0, 1: logits (1, 1, 0), targets (1/2, 1/2, 0); row 2: logits (0, 0, 1), target (0, 0, 1)
    row01 = -math.log(math.e / (2 * math.e + 1))
    row2 = -math.log(math.e / (math.e + 2))
    expected = (2 * row01 + row2) / 3  # both directions are equal here (symmetric logits)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_an_asymmetric_mask_spreads_rows_and_columns_separately():
    # caption 1 ("animal") describes images 0 and 1; caption 0 ("cat") only image 0
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mask = torch.tensor([[True, True], [False, True]])
    loss = MultiPositiveClipLoss()(image, text, torch.tensor(1.0), mask)
    # image 0: logits (1, 0), target (1/2, 1/2); image 1: logits (0, 1), target (0, 1)
    row0 = -(0.5 * math.log(math.e / (math.e + 1)) + 0.5 * math.log(1 / (math.e + 1)))
    row1 = -math.log(math.e / (math.e + 1))
    # caption 0: logits over images (1, 0), target (1, 0); caption 1: logits (0, 1), target (1/2, 1/2)
    col0, col1 = row1, row0
    assert loss.item() == pytest.approx(((row0 + row1) / 2 + (col0 + col1) / 2) / 2, rel=1e-6)


def test_the_sigmoid_loss_is_siglips_with_the_mask_as_labels():
    image, text = _features(2, n=4)
    mask = torch.eye(4, dtype=torch.bool)
    mask[0, 1] = True
    scale, bias = torch.tensor(5.0), torch.tensor(-2.0)
    logits = scale * image @ text.T + bias
    expected = -torch.nn.functional.logsigmoid((mask.float() * 2 - 1) * logits).sum() / 4
    torch.testing.assert_close(SigmoidPairLoss()(image, text, scale, bias, mask), expected)


def test_a_mask_of_the_wrong_shape_or_without_a_positive_is_refused():
    image, text = _features(1)
    with pytest.raises(ValueError, match=r"positives must have shape \[5, 5\]"):
        MultiPositiveClipLoss()(image, text, torch.tensor(1.0), torch.eye(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one positive"):
        MultiPositiveClipLoss()(image, text, torch.tensor(1.0), torch.zeros(5, 5, dtype=torch.bool))
