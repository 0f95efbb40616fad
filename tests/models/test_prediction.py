"""Eq. (10) scores and the inference-time zero-shot ensemble."""

from __future__ import annotations

import pytest
import torch

from ovmlr.models import category_cosine, zero_shot_ensemble


def test_category_cosine_uses_each_category_own_text() -> None:
    node_feats = torch.tensor([[[2.0, 0.0], [0.0, -3.0]]])  # [B=1, C=2, D=2]
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(category_cosine(node_feats, text), torch.tensor([[1.0, -1.0]]))


def test_zero_shot_ensemble_hand_worked() -> None:
    cosine = torch.tensor([[1.0, -0.5], [0.2, 0.0]])
    zero_shot = torch.tensor([[0.0, 0.3], [0.2, 0.4]])
    expected = torch.tensor([[0.75, -0.3], [0.2, 0.1]])  # 0.75 · cosine + 0.25 · zero_shot
    torch.testing.assert_close(zero_shot_ensemble(cosine, zero_shot, 0.25), expected)
    torch.testing.assert_close(zero_shot_ensemble(cosine, zero_shot, 0.0), cosine, rtol=0, atol=0)
    torch.testing.assert_close(zero_shot_ensemble(cosine, zero_shot, 1.0), zero_shot, rtol=0, atol=0)


def test_zero_shot_ensemble_rejects_weight_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\], got -0.1"):
        zero_shot_ensemble(torch.zeros(1, 2), torch.zeros(1, 2), -0.1)
