"""ISR (Eq. 4-5, Algorithm 1) on a hand-worked example."""

from __future__ import annotations

import math

import pytest
import torch

from ovmlr.models import ISR, ISRConfig, patch_scores, pool_patches, select_patches

TEMPERATURE = 10.0
# Softmax scores we want for the 5 patches of one image, against category A and category B.
PROBS_A = [0.5, 0.3, 0.1, 0.06, 0.04]  # sorted: 0 (0.5), 1 (0.8 ≥ α=0.7) → α binds after 2 patches
PROBS_B = [0.19, 0.21, 0.18, 0.22, 0.20]  # sorted: 3, 1, 4 (0.61), 0 (0.80) → α needs 4, N=3 binds


def _hand_features() -> tuple[torch.Tensor, torch.Tensor]:
    """Unit patch features whose cosines to text A = e0 and text B = e1 are log(p)/T + 0.5.

    Then softmax(T · cos) = softmax(log p + T/2) = p exactly. A third coordinate makes each patch unit norm.
    """
    cos_a = [math.log(p) / TEMPERATURE + 0.5 for p in PROBS_A]
    cos_b = [math.log(p) / TEMPERATURE + 0.5 for p in PROBS_B]
    patches = torch.tensor([[a, b, math.sqrt(1 - a * a - b * b)] for a, b in zip(cos_a, cos_b, strict=True)])
    text = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return patches.unsqueeze(0).double(), text.double()  # [1, 5, 3], [2, 3]


def test_patch_scores_reproduce_the_designed_softmax() -> None:
    patches, text = _hand_features()
    scores = patch_scores(patches, text, TEMPERATURE)
    torch.testing.assert_close(scores[0].double(), torch.tensor([PROBS_A, PROBS_B], dtype=torch.float64))


def test_selection_alpha_binds_for_a_and_cap_binds_for_b() -> None:
    scores = torch.tensor([[PROBS_A, PROBS_B]])
    mask = select_patches(scores, alpha=0.7, max_patches=3)
    expected = torch.tensor([[[1, 1, 0, 0, 0], [0, 1, 0, 1, 1]]], dtype=torch.bool)
    assert torch.equal(mask, expected)


def test_selection_keeps_the_patch_that_crosses_alpha_and_at_least_one() -> None:
    scores = torch.tensor([[PROBS_A]])
    # 0.5 < 0.6, so patch 1 is needed and kept although 0.8 overshoots α.
    assert select_patches(scores, alpha=0.6, max_patches=5)[0, 0].tolist() == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_alpha_endpoints_follow_fig5() -> None:
    """Fig. 5: α = 0 excludes local features, α = 1 uses all of them (the N cap does not bind)."""
    scores = torch.tensor([[PROBS_A, PROBS_B]])
    assert not select_patches(scores, alpha=0.0, max_patches=5).any()
    assert select_patches(scores, alpha=1.0, max_patches=2).all()
    # float rounding of the cumulative mass must not stop α = 1 short of P
    flat = torch.full((1, 1, 196), 1.0 / 196)
    assert select_patches(flat, alpha=1.0, max_patches=196).all()


def test_selection_breaks_ties_by_patch_index() -> None:
    scores = torch.full((1, 1, 4), 0.25)
    assert select_patches(scores, alpha=0.5, max_patches=4)[0, 0].tolist() == [True, True, False, False]


def test_pooling_mean_and_weighted() -> None:
    patches, text = _hand_features()
    scores = patch_scores(patches, text, TEMPERATURE)
    mask = select_patches(scores, alpha=0.7, max_patches=3)
    mean = pool_patches(patches, mask, scores, "mean")
    torch.testing.assert_close(mean[0, 0], (patches[0, 0] + patches[0, 1]) / 2)
    torch.testing.assert_close(mean[0, 1], (patches[0, 3] + patches[0, 1] + patches[0, 4]) / 3)
    weighted = pool_patches(patches, mask, scores, "weighted")
    torch.testing.assert_close(weighted[0, 0], (0.5 * patches[0, 0] + 0.3 * patches[0, 1]) / 0.8)


@pytest.mark.parametrize("chunk_size", [None, 1])
def test_isr_module_matches_the_functions_and_chunking(chunk_size: int | None) -> None:
    patches, text = _hand_features()
    isr = ISR(ISRConfig(alpha=0.7, max_patches=3, temperature=TEMPERATURE, chunk_size=chunk_size))
    local, mask = isr(patches, text)
    assert local.shape == (1, 2, 3)
    assert mask.sum(dim=-1).tolist() == [[2, 3]]
    torch.testing.assert_close(local[0, 0], (patches[0, 0] + patches[0, 1]) / 2)


def test_isr_vectorised_over_batch_and_categories() -> None:
    gen = torch.Generator().manual_seed(0)
    patches, text = torch.randn(3, 20, 8, generator=gen), torch.randn(6, 8, generator=gen)
    isr = ISR(ISRConfig(alpha=0.5, max_patches=4, temperature=20.0))
    local, mask = isr(patches, text)
    counts = mask.sum(dim=-1)
    assert local.shape == (3, 6, 8)
    assert mask.shape == (3, 6, 20)
    assert counts.min() >= 1
    assert counts.max() <= 4
    # Each image is processed independently: image 1 alone gives the same selection.
    assert torch.equal(isr(patches[1:2], text)[1][0], mask[1])


def test_isr_without_temperature_raises() -> None:
    with pytest.raises(ValueError, match="ISR needs a temperature"):
        ISR(ISRConfig(temperature=None))


def test_top_k_selection_keeps_exactly_k_patches_per_category() -> None:
    from ovmlr.models.isr import select_top_k

    scores = torch.tensor([[PROBS_A, PROBS_B]])
    mask = select_top_k(scores, 2)
    assert mask.sum(dim=-1).tolist() == [[2, 2]]
    assert mask[0, 0].tolist() == [True, True, False, False, False]  # the two best of A
    assert select_top_k(scores, 99).all()
