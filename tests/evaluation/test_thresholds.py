"""Threshold choice on hand-made scores: the F1-optimal point, a target precision, no positive."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from ovmlr.core.thresholds import LabelThreshold, ThresholdRule, Thresholds, tags_of
from ovmlr.evaluation.thresholds import (
    fit_label_thresholds,
    fit_threshold,
    reliability_bins,
    threshold_curve,
)

# Scores best first, with their labels (P = 4). F1 = 2 TP / (TP + FP + P) by cut:
# 0.9: 2/5, 0.8: 4/6, 0.7: 4/7, 0.6: 6/8, 0.5: 6/9, 0.4: 8/10 (the best: TP 4, FP 2), 0.3: 8/11, 0.2: 8/12,
# 0.1: 8/13. Precision by cut: 1, 1, 2/3, 3/4, 3/5, 2/3, 4/7, 1/2, 4/9.
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
LABELS = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0])


def test_the_f1_rule_finds_the_hand_worked_optimum_and_agrees_with_scikit_learn() -> None:
    fit = fit_threshold(SCORES, LABELS, ThresholdRule("f1"))
    assert fit.threshold == 0.4 and fit.f1 == pytest.approx(0.8)
    predicted = fit.threshold <= SCORES
    assert fit.f1 == pytest.approx(f1_score(LABELS, predicted))
    assert fit.precision == pytest.approx(precision_score(LABELS, predicted))
    assert fit.recall == pytest.approx(recall_score(LABELS, predicted)) and fit.positives == 4
    # every other candidate is no better (brute force over all distinct scores)
    best = max(f1_score(LABELS, t <= SCORES) for t in SCORES)
    assert fit.f1 == pytest.approx(best)


def test_the_hand_worked_f1_curve() -> None:
    curve = threshold_curve(SCORES, LABELS)
    np.testing.assert_allclose(curve["threshold"], SCORES)
    f1 = [2 / 5, 4 / 6, 4 / 7, 6 / 8, 6 / 9, 8 / 10, 8 / 11, 8 / 12, 8 / 13]
    np.testing.assert_allclose(curve["f1"], f1)
    np.testing.assert_allclose(curve["precision"], [1, 1, 2 / 3, 3 / 4, 3 / 5, 2 / 3, 4 / 7, 1 / 2, 4 / 9])


def test_unknown_labels_are_left_out() -> None:
    labels = np.r_[LABELS, -1, -1]
    scores = np.r_[SCORES, 0.95, 0.05]  # an unknown pair above every score changes nothing
    assert fit_threshold(scores, labels, ThresholdRule()) == fit_threshold(SCORES, LABELS, ThresholdRule())
    assert sum(r["count"] for r in reliability_bins(scores, labels, 3)) == len(SCORES)


def test_ties_are_one_candidate_and_the_highest_best_threshold_wins() -> None:
    scores = np.array([0.5, 0.5, 0.2, 0.2])
    labels = np.array([1, 0, 1, 0])
    curve = threshold_curve(scores, labels)
    np.testing.assert_allclose(curve["threshold"], [0.5, 0.2])  # never half of a tie
    # 0.5: TP 1, FP 1 -> F1 0.5; 0.2: TP 2, FP 2 -> F1 2/3
    assert fit_threshold(scores, labels, ThresholdRule("f1")).threshold == 0.2
    same = fit_threshold(np.array([0.9, 0.1]), np.array([1, 1]), ThresholdRule("f1"))
    assert same.threshold == 0.1 and same.f1 == 1.0


def test_a_target_precision_takes_the_lowest_threshold_that_reaches_it() -> None:
    fit = fit_threshold(SCORES, LABELS, ThresholdRule("precision", target_precision=0.75))
    assert fit.threshold == 0.6 and fit.precision == 0.75 and fit.recall == 0.75  # not 0.8 or 0.9
    strict = fit_threshold(SCORES, LABELS, ThresholdRule("precision", target_precision=1.0))
    assert strict.threshold == 0.8 and strict.recall == 0.5 and strict.note == ""


def test_an_unreachable_target_precision_says_so() -> None:
    scores, labels = np.array([0.9, 0.8, 0.1]), np.array([0, 1, 0])
    fit = fit_threshold(scores, labels, ThresholdRule("precision", target_precision=0.9))
    assert fit.threshold == 0.8 and fit.precision == 0.5
    assert "target precision 0.9 not reached" in fit.note


def test_a_label_with_no_positive_gets_no_threshold_and_new_names_stand_in() -> None:
    fits = fit_label_thresholds(
        np.array([[0.9, 0.3], [0.1, 0.2]]), np.array([[1, 0], [0, 0]]), ("cat", "dog"), ThresholdRule()
    )
    assert fits["cat"].threshold == 0.9
    assert fits["dog"].threshold is None and fits["dog"].positives == 0 and "no positive" in fits["dog"].note
    new = LabelThreshold(0.25, 0.5, 0.5, 0.5, 3, "disjoint-val")
    values = Thresholds("f1", fits, new).for_names(["CAT", "dog", "zebra"])
    np.testing.assert_allclose(values, [0.9, 0.25, 0.25])
    assert math.isnan(Thresholds("f1", fits, None).for_names(["zebra"])[0])  # no stand-in: never a tag


def test_tags_are_the_labels_at_or_above_their_threshold_best_first() -> None:
    scores = np.array([[0.2, 0.5, 0.4], [0.1, 0.1, 0.1]])
    tags = tags_of(("a", "b", "c"), scores, np.array([0.2, 0.45, np.nan]))
    assert tags == [["b", "a"], []]


def test_thresholds_round_trip_through_json_and_bad_rules_are_named() -> None:
    fits = fit_label_thresholds(
        np.array([[0.9, 0.3], [0.1, 0.2]]), np.array([[1, 0], [0, 0]]), ("cat", "dog"), ThresholdRule()
    )
    made = Thresholds("f1", fits, None, {"seen": reliability_bins(SCORES, LABELS, 3)})
    again = Thresholds.from_dict(made.to_dict())
    assert again.labels["cat"] == made.labels["cat"] and again.labels["dog"].threshold is None
    assert again.reliability == made.reliability
    with pytest.raises(ValueError, match="training.thresholds.rule must be one of"):
        ThresholdRule.from_params({"rule": "youden"})
    with pytest.raises(ValueError, match=r"target_precision must be in \(0, 1\], got 1.5"):
        ThresholdRule.from_params({"rule": "precision", "target_precision": 1.5})
    with pytest.raises(ValueError, match=r"unknown training.thresholds parameter\(s\) \['target'\]"):
        ThresholdRule.from_params({"target": 0.5})


def test_reliability_bins_count_every_score_and_give_the_positive_rate() -> None:
    rows = reliability_bins(SCORES, LABELS, 2)
    assert [r["count"] for r in rows] == [4, 5]  # [0.1, 0.5), [0.5, 0.9]
    assert [r["positive_rate"] for r in rows] == pytest.approx([1 / 4, 3 / 5])
    with pytest.raises(ValueError, match="not finite"):
        threshold_curve(np.array([np.nan, 1.0]), np.array([1, 0]))
