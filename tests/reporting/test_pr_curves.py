"""Seen / unseen precision-recall curves."""

from __future__ import annotations

import numpy as np
import pytest

from ovmlr.reporting.pr_curves import plot_precision_recall, pooled_precision_recall, spread_columns


def test_pooled_curve_drops_unknown_labels() -> None:
    scores = np.array([[0.9, 0.8], [0.7, 0.6]])
    labels = np.array([[1, -1], [0, 1]])
    precision, recall, ap = pooled_precision_recall(scores, labels)
    assert ap == pytest.approx((1 / 1 + 2 / 3) / 2)  # ranking 0.9 (+), 0.7 (-), 0.6 (+); 0.8 is unknown
    assert precision.tolist() == pytest.approx([2 / 3, 1 / 2, 1, 1]) and recall.tolist() == [1, 0.5, 0.5, 0]


def test_pooled_curve_needs_a_positive() -> None:
    with pytest.raises(ValueError, match="no known positive"):
        pooled_precision_recall(np.ones((2, 2)), np.array([[0, -1], [0, 0]]))


def test_spread_columns_keeps_ends_and_limit() -> None:
    assert spread_columns(np.arange(10), 3).tolist() == [0, 4, 9]  # linspace(0, 9, 3) = 0, 4.5→4, 9
    assert spread_columns(np.arange(2), 5).tolist() == [0, 1]


def test_plot_has_thin_and_pooled_curves_per_group(png_bytes) -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random((30, 7)) < 0.4).astype(np.int8)
    labels[0] = 1
    unseen = np.arange(7) >= 5
    scores = {"c2srt": rng.random((30, 7)), "zero_shot": rng.random((30, 7))}
    figure = plot_precision_recall(scores, labels, unseen, {"c2srt": "C²SRT"}, max_category_curves=3)
    seen_ax, unseen_ax = figure.axes[:2]
    assert len(seen_ax.lines) == 3 + 2 and len(unseen_ax.lines) == 2 + 2  # thin curves (≤ 3) + 2 methods
    assert [t.get_text().split(" (AP")[0] for t in unseen_ax.get_legend().get_texts()] == [
        "C²SRT",
        "zero_shot",
    ]
    assert png_bytes(figure) > 10_000


def test_plot_without_unseen_categories_says_so() -> None:
    rng = np.random.default_rng(1)
    labels = np.ones((5, 3), dtype=np.int8)
    figure = plot_precision_recall({"m": rng.random((5, 3))}, labels, np.zeros(3, dtype=bool), {})
    assert "no unseen category" in figure.axes[1].texts[0].get_text()
    with pytest.raises(ValueError, match="at least one method"):
        plot_precision_recall({}, labels, np.zeros(3, dtype=bool), {})
