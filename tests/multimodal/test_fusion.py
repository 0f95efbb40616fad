"""CSCF's test-time fusion: calibration, the dominant-modality rule, the refinement, late fusion, oracle."""

from __future__ import annotations

import numpy as np
import pytest

from ovmlr.multimodal.fusion import (
    FusionConfig,
    calibrate_temperature,
    class_similarity,
    dominant_modality,
    entropy_uncertainty,
    fuse,
    late_fusion,
    oracle_choice,
    refine,
    sample_average_precision,
    standardise,
)


def test_entropy_uncertainty_orders_sharp_before_flat() -> None:
    sharp = np.array([[1.0, 0.0, 0.0, 0.0]])
    flat = np.array([[0.25, 0.25, 0.25, 0.25]])
    assert entropy_uncertainty(flat, 5.0)[0] == pytest.approx(1.0)
    assert entropy_uncertainty(sharp, 5.0)[0] < 0.5


def test_dominant_is_the_least_uncertain_present_modality() -> None:
    uncertainty = {"image": np.array([0.2, 0.9, 0.5, 0.3]), "text": np.array([0.4, 0.1, 0.5, 0.1])}
    present = {"image": np.array([True, True, True, True]), "text": np.array([True, True, True, False])}
    # sample 0: image sharper; 1: text; 2: tie -> first; 3: text missing -> image
    assert dominant_modality(uncertainty, present).tolist() == [0, 1, 0, 0]
    nobody = {"image": np.array([False]), "text": np.array([False])}
    assert dominant_modality({"image": np.array([0.1]), "text": np.array([0.2])}, nobody).tolist() == [-1]


def test_class_similarity_keeps_itself_and_rows_sum_to_one() -> None:
    text = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    s = class_similarity(text, neighbours=2, temperature=1.0)
    assert np.allclose(s.sum(1), 1.0)
    assert (s > 0).sum(1).tolist() == [2, 2, 2]
    assert s[0, 1] > 0 and s[0, 2] == 0  # 0's neighbour is 1, not 2
    assert s[2, 2] > 0


def test_refine_by_hand() -> None:
    """y = d + γ ⊙ (S a): worked out on two categories."""
    dominant = np.array([[1.0, -1.0]])
    auxiliary = [np.array([[0.0, 2.0]])]
    similarity = np.array([[0.5, 0.5], [0.0, 1.0]])
    own = np.array([True, False])
    # S a = [0.5*0 + 0.5*2, 0*0 + 1*2] = [1, 2]; γ = [0.1, 1.0] -> y = [1 + 0.1, -1 + 2]
    out = refine(dominant, auxiliary, similarity, own, gamma_own=0.1, gamma_other=1.0)
    assert np.allclose(out, [[1.1, 1.0]])
    # an absent auxiliary changes nothing; no auxiliary at all neither
    absent = refine(dominant, auxiliary, similarity, own, 0.1, 1.0, [np.array([False])])
    assert np.allclose(absent, dominant)
    assert np.allclose(refine(dominant, [], similarity, own, 0.1, 1.0), dominant)


def test_fuse_handles_a_missing_modality_without_crashing() -> None:
    rng = np.random.default_rng(0)
    scores = {"a": rng.normal(size=(5, 4)), "b": rng.normal(size=(5, 4))}
    present = {
        "a": np.array([True, True, False, False, True]),
        "b": np.array([True, False, True, False, True]),
    }
    member = {"a": np.array([1, 1, 0, 0], bool), "b": np.array([0, 1, 1, 0], bool)}
    config = FusionConfig(temperatures={"a": 5.0, "b": 5.0}, neighbours=2, similarity_temperature=0.5)
    fused, choice = fuse(scores, present, member, np.eye(4, dtype=np.float32), config)
    assert choice[1] == 0 and choice[2] == 1 and choice[3] == -1
    assert np.allclose(fused[3], 0.0)  # nothing to go on
    assert np.allclose(fused[1], standardise(scores["a"])[1])  # its auxiliary is absent: a alone
    assert np.isfinite(fused).all()


def test_fusion_needs_calibrated_temperatures() -> None:
    with pytest.raises(ValueError, match="no calibrated temperature for modality 'b'"):
        FusionConfig(temperatures={"a": 1.0}).temperature("b")
    with pytest.raises(ValueError, match="temperatures must be > 0"):
        FusionConfig(temperatures={"a": 0.0})


def test_calibrate_temperature_prefers_sharp_for_reliable_scores() -> None:
    labels = np.eye(4, dtype=np.int8)
    reliable = np.eye(4) * 0.5  # the positive always scores highest
    noisy = np.random.default_rng(0).normal(scale=0.5, size=(4, 4))
    grid = np.geomspace(0.1, 100, 30)
    columns = np.ones(4, bool)
    assert calibrate_temperature(reliable, labels, columns, grid) > calibrate_temperature(
        noisy, labels, columns, grid
    )
    with pytest.raises(ValueError, match="no sample has a positive"):
        calibrate_temperature(reliable, np.zeros_like(labels), columns, grid)


def test_late_fusion_mean_and_max_skip_absent_modalities() -> None:
    a, b = np.array([[0.0, 1.0, 2.0]]), np.array([[2.0, 1.0, 0.0]])
    both = {"a": np.array([True]), "b": np.array([True])}
    assert np.allclose(late_fusion({"a": a, "b": b}, both, "mean"), 0.0)
    only_a = {"a": np.array([True]), "b": np.array([False])}
    assert np.allclose(late_fusion({"a": a, "b": b}, only_a, "max"), standardise(a))
    with pytest.raises(ValueError, match="'mean' or 'max'"):
        late_fusion({"a": a}, both, "median")


def test_oracle_picks_the_modality_that_ranks_the_truth_best() -> None:
    labels = np.array([[1, 0, 0], [0, 0, 1]], dtype=np.int8)
    a = np.array([[3.0, 1.0, 0.0], [3.0, 1.0, 0.0]])  # right on sample 0
    b = np.array([[0.0, 1.0, 3.0], [0.0, 1.0, 3.0]])  # right on sample 1
    present = {"a": np.ones(2, bool), "b": np.ones(2, bool)}
    _, choice = oracle_choice({"a": a, "b": b}, present, labels)
    assert choice.tolist() == [0, 1]
    assert sample_average_precision(a, labels).tolist() == [1.0, pytest.approx(1 / 3)]
