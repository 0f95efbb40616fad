"""Tests of ovmlr.metrics against scikit-learn and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from ovmlr.metrics import (
    average_precision,
    mean_average_precision,
    precision_recall_f1_at_k,
    retrieval_recall_at_k,
    zsl_gzsl_metrics,
    zsl_gzsl_retrieval,
)


def test_average_precision_hand_worked() -> None:
    # Category 0 ranking: pos(0.9) neg(0.8) pos(0.7) neg(0.1) → AP = (1/1 + 2/3) / 2.
    # Category 1 has an unknown label on the top image: it is dropped, leaving pos(0.5) neg(0.4) → AP = 1.
    scores = np.array([[0.9, 0.6], [0.8, 0.5], [0.7, 0.4], [0.1, 0.3]])
    labels = np.array([[1, -1], [0, 1], [1, 0], [0, 0]])
    np.testing.assert_allclose(average_precision(scores, labels), [(1 + 2 / 3) / 2, 1.0])


def test_average_precision_ties_use_block_precision() -> None:
    # Scores tie for one positive and one negative at the top: both get precision 1/2 after the block,
    # then the second positive alone: 2/3. AP = (1/2 + 2/3) / 2, independent of the image order.
    scores = np.array([[0.5], [0.5], [0.2]])
    labels = np.array([[0], [1], [1]])
    expected = (1 / 2 + 2 / 3) / 2
    assert average_precision(scores, labels)[0] == pytest.approx(expected)
    assert average_precision(scores[::-1], labels[::-1])[0] == pytest.approx(expected)


def test_average_precision_matches_sklearn_on_random_cases_with_ties_and_unknowns() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(60, 7)).astype(np.float32)  # many ties
    labels = rng.integers(-1, 2, size=(60, 7))
    ap = average_precision(scores, labels)
    for c in range(7):
        known = labels[:, c] >= 0
        assert ap[c] == pytest.approx(average_precision_score(labels[known, c], scores[known, c]))


def test_category_without_positive_is_nan_and_excluded_from_map() -> None:
    scores = np.array([[0.9, 0.2], [0.1, 0.8]])
    labels = np.array([[1, 0], [0, -1]])
    ap = average_precision(scores, labels)
    assert ap[0] == 1.0
    assert math.isnan(ap[1])
    assert mean_average_precision(scores, labels) == 1.0


def test_mean_average_precision_accepts_torch_tensors() -> None:
    scores = torch.tensor([[0.2, 0.9], [0.8, 0.1], [0.5, 0.4]])
    labels = torch.tensor([[0, 1], [1, 0], [1, 1]], dtype=torch.int8)
    # Category 0: pos 0.8, pos 0.5, neg 0.2 → 1; category 1: pos 0.9, pos 0.4 above neg 0.1 → 1.
    assert mean_average_precision(scores, labels) == 1.0


def test_half_precision_tensors_are_accepted() -> None:
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]], dtype=torch.bfloat16)
    assert mean_average_precision(scores, torch.tensor([[1, 0], [0, 1]])) == 1.0


def test_mean_average_precision_without_any_positive_raises() -> None:
    with pytest.raises(ValueError, match="none of the 2 categories has a known positive"):
        mean_average_precision(np.zeros((3, 2)), np.array([[0, -1], [0, 0], [-1, 0]]))


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (np.zeros((2, 3)), np.zeros((2, 2)), "same shape"),
        (np.array([[0.1, np.nan]]), np.array([[1, 0]]), r"scores\[0, 1\] = nan"),
        (np.array([[0.1, 0.2]]), np.array([[1, 2]]), r"labels\[0, 1\] = 2"),
    ],
)
def test_bad_inputs_are_named(scores: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        average_precision(scores, labels)


def test_precision_recall_f1_at_k_hand_worked() -> None:
    # Top-2 per image: image 0 → {0, 1} (1 TP), image 1 → {2, 3} (1 TP; category 3 is unknown: a prediction
    # that is not a TP). Positives: image 0 has 2 (cats 0, 2), image 1 has 1 (cat 2) → 3.
    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.0, 0.1, 0.7, 0.9]])
    labels = np.array([[1, 0, 1, 0], [0, 0, 1, -1]])
    precision, recall, f1 = precision_recall_f1_at_k(scores, labels, 2)
    assert precision == pytest.approx(2 / 4)
    assert recall == pytest.approx(2 / 3)
    assert f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_top_k_ties_go_to_lower_category_index() -> None:
    scores = np.array([[0.5, 0.5, 0.5, 0.1]])
    first_two = precision_recall_f1_at_k(scores, np.array([[1, 1, 0, 0]]), 2)
    last_tied = precision_recall_f1_at_k(scores, np.array([[0, 0, 1, 0]]), 2)
    assert first_two[0] == 1.0
    assert last_tied[0] == 0.0


def test_top_k_without_positives_gives_nan_recall() -> None:
    precision, recall, f1 = precision_recall_f1_at_k(np.array([[0.2, 0.1]]), np.array([[0, -1]]), 1)
    assert precision == 0.0
    assert math.isnan(recall)
    assert math.isnan(f1)


def test_top_k_out_of_range_raises() -> None:
    with pytest.raises(ValueError, match=r"k must be in \[1, 2\]"):
        precision_recall_f1_at_k(np.zeros((1, 2)), np.zeros((1, 2)), 3)


def test_zsl_gzsl_metrics_splits_columns() -> None:
    scores = np.array([[0.9, 0.1, 0.8, 0.2], [0.2, 0.7, 0.1, 0.6]])
    labels = np.array([[1, 0, 0, 1], [0, 1, 0, 0]])
    unseen = np.array([False, False, True, True])
    metrics = zsl_gzsl_metrics(scores, labels, unseen, ks=(1,))
    # ZSL sees columns 2-3 only: category 2 has no positive (excluded); category 3: pos 0.2 < neg 0.6 → 1/2.
    assert metrics["zsl/mAP"] == pytest.approx(0.5)
    assert metrics["zsl/n_categories"] == 2.0
    assert metrics["zsl/n_categories_without_positive"] == 1.0
    # ZSL top-1: image 0 picks category 2 (neg), image 1 picks category 3 (neg) → P = 0, R = 0, F1 = 0.
    assert (metrics["zsl/P_at_1"], metrics["zsl/R_at_1"], metrics["zsl/F1_at_1"]) == (0.0, 0.0, 0.0)
    # GZSL top-1: image 0 → cat 0 (TP), image 1 → cat 1 (TP); 3 positives → P = 1, R = 2/3.
    assert metrics["gzsl/P_at_1"] == 1.0
    assert metrics["gzsl/R_at_1"] == pytest.approx(2 / 3)
    assert metrics["gzsl/mAP"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_zsl_gzsl_metrics_rejects_bad_mask() -> None:
    with pytest.raises(ValueError, match="unseen_mask must be a boolean"):
        zsl_gzsl_metrics(np.zeros((1, 3)), np.zeros((1, 3)), np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="selects no category"):
        zsl_gzsl_metrics(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(3, dtype=bool))


def test_k_larger_than_the_task_vocabulary_gives_nan_not_an_error():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(20, 6))
    labels = (rng.random((20, 6)) < 0.4).astype(np.int8)
    unseen = np.array([False, False, False, True, True, True])
    metrics = zsl_gzsl_metrics(scores, labels, unseen, ks=(3, 5))
    assert np.isnan(metrics["zsl/F1_at_5"]) and np.isnan(metrics["zsl/P_at_5"])
    assert not np.isnan(metrics["zsl/F1_at_3"]) and not np.isnan(metrics["gzsl/F1_at_5"])


def test_retrieval_recall_on_a_hand_made_case() -> None:
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3], [0.4, 0.6, 0.7], [0.1, 0.2, 0.3]])
    labels = np.array([[0, 1, 0], [0, 1, 0], [1, -1, 0], [0, 0, 0]])
    r = retrieval_recall_at_k(scores, labels, ks=(1, 2, 3, 5))
    # images 0-2 have a positive (image 3 is not a query); top-1: cat 0, 1, 2 -> only image 1 hits
    assert r["i2t/R_at_1"] == pytest.approx(1 / 3)
    assert r["i2t/R_at_2"] == pytest.approx(1 / 3)  # image 0: {0, 2}; image 2: {2, 1} (1 is unknown): misses
    assert r["i2t/R_at_3"] == pytest.approx(1.0)
    assert np.isnan(r["i2t/R_at_5"])  # 3 categories: fewer candidates than K
    # categories 0 and 1 have a positive; cat 0 ranks image 0 first (miss), image 2 second
    # cat 1 ranks image 1 first (hit); image 2 is unknown for it and leaves its ranking
    assert r["t2i/R_at_1"] == pytest.approx(1 / 2)
    assert r["t2i/R_at_2"] == pytest.approx(2 / 2)  # cat 0's top 2: images 0 and 2
    assert np.isnan(r["t2i/R_at_5"])
    with pytest.raises(ValueError, match="K must be >= 1"):
        retrieval_recall_at_k(scores, labels, ks=(0,))


def test_retrieval_over_zsl_and_gzsl_columns() -> None:
    rng = np.random.default_rng(3)
    scores, labels = rng.random((30, 8)), (rng.random((30, 8)) < 0.3).astype(np.int8)
    mask = np.arange(8) >= 5
    both = zsl_gzsl_retrieval(scores, labels, mask, ks=(1, 3))
    zsl = retrieval_recall_at_k(scores[:, mask], labels[:, mask], (3,))
    assert both["zsl/i2t/R_at_3"] == zsl["i2t/R_at_3"]
    assert both["gzsl/t2i/R_at_1"] == retrieval_recall_at_k(scores, labels, (1,))["t2i/R_at_1"]
    # a perfect scorer retrieves a positive first in both directions
    perfect = retrieval_recall_at_k(labels.astype(float), labels, (1,))
    assert perfect == {"i2t/R_at_1": 1.0, "t2i/R_at_1": 1.0}
