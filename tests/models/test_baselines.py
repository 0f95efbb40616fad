"""Training-free baselines: zero-shot CLIP and MKT-style two-stream scores."""

from __future__ import annotations

import pytest
import torch

from ovmlr.models import mkt_style_scores, zero_shot_scores


def test_zero_shot_scores_are_cosines() -> None:
    global_feats = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    expected = torch.tensor([[1.0, 0.0], [2**-0.5, 2**-0.5]])
    torch.testing.assert_close(zero_shot_scores(global_feats, text), expected)


def test_mkt_style_scores_hand_worked() -> None:
    # One image, 3 patches, 2 categories along the axes: patch cosines to cat 0 = [1, 0, 0.6], to cat 1 =
    # [0, 1, 0.8].
    patches = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]])
    global_feats = torch.tensor([[1.0, 0.0]])
    text = torch.eye(2)
    # top-2 means: cat 0 → 0.8, cat 1 → 0.9; normalised over categories; global [1, 0] already unit.
    local = torch.tensor([0.8, 0.9]) / torch.tensor([0.8, 0.9]).norm()
    expected = (local + torch.tensor([1.0, 0.0])) / 2
    torch.testing.assert_close(mkt_style_scores(global_feats, patches, text, k=2)[0], expected)


def test_mkt_style_scores_rejects_k_above_p() -> None:
    with pytest.raises(ValueError, match=r"k must be in \[1, P=3\], got 16"):
        mkt_style_scores(torch.ones(1, 2), torch.ones(1, 3, 2), torch.ones(4, 2))
