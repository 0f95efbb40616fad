"""The reliability plot of a model's thresholds, and what it says when a model has none."""

from __future__ import annotations

import numpy as np

from ovmlr.core.thresholds import LabelThreshold, ThresholdRule, Thresholds
from ovmlr.evaluation.thresholds import fit_label_thresholds, reliability_bins
from ovmlr.reporting.thresholds import plot_reliability


def test_the_plot_draws_each_group_and_marks_the_thresholds() -> None:
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=(40, 3)), (rng.random((40, 3)) < 0.3).astype(int)
    fits = fit_label_thresholds(scores, labels, ("a", "b", "c"), ThresholdRule())
    new = LabelThreshold(0.2, 0.5, 0.5, 0.5, 7, "disjoint-val")
    bins = reliability_bins(scores, labels, 5)
    figure = plot_reliability(Thresholds("f1", fits, new, {"seen": bins, "new names": bins}))
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "seen",
        "new names",
        "median seen threshold",
        "new-name threshold",
    ]


def test_a_model_without_thresholds_gets_a_figure_that_says_so() -> None:
    (ax,) = plot_reliability(None).axes
    assert "no calibrated thresholds" in ax.texts[0].get_text()
