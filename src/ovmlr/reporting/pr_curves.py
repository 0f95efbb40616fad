"""Precision-recall curves of seen and unseen categories: one pooled (micro) curve per method and group,
plus thin per-category curves of the main method.

The pooled curve ranks every (image, category) pair of the group whose label is known as one list, so it
weighs categories by their number of positives; the thin curves show how categories spread around it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve

from ovmlr.reporting.style import SEEN_COLOUR, UNSEEN_COLOUR, method_colour, new_figure


def pooled_precision_recall(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Micro-averaged precision-recall curve over every known (image, category) pair.

    Args:
        scores: Scores [N, C].
        labels: ``1`` / ``0`` / ``-1`` (unknown pairs are dropped) [N, C].

    Returns:
        ``(precision, recall, average precision)`` of the pooled ranking (scikit-learn's curve).

    Raises:
        ValueError: If no pair is a known positive.
    """
    known = labels >= 0
    positive = labels[known] == 1
    if not positive.any():
        raise ValueError(f"no known positive among the {int(known.sum())} known labels: no PR curve")
    precision, recall, _ = precision_recall_curve(positive, scores[known])
    return precision, recall, float(average_precision_score(positive, scores[known]))


def spread_columns(columns: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` of ``columns``, evenly spread over the list (all of them if there are fewer)."""
    if len(columns) <= limit:
        return columns
    return columns[np.unique(np.linspace(0, len(columns) - 1, num=limit).round().astype(int))]


def _draw_category_curves(ax: Axes, scores: np.ndarray, labels: np.ndarray, colour: str, limit: int) -> int:
    """Thin PR curves of the categories with a known positive (at most ``limit``); returns how many."""
    with_positive = np.flatnonzero((labels == 1).any(axis=0))
    shown = spread_columns(with_positive, limit)
    for column in shown:
        known = labels[:, column] >= 0
        precision, recall, _ = precision_recall_curve(labels[known, column] == 1, scores[known, column])
        ax.plot(recall, precision, color=colour, alpha=0.25, linewidth=0.7)
    return len(shown)


def _draw_group(
    ax: Axes,
    scores_by_method: Mapping[str, np.ndarray],
    labels: np.ndarray,
    method_labels: Mapping[str, str],
    group: str,
    max_category_curves: int,
) -> None:
    """One panel: the main method's per-category curves, then every method's pooled curve."""
    main = next(iter(scores_by_method))
    colour = UNSEEN_COLOUR if group == "unseen" else SEEN_COLOUR
    n_thin = _draw_category_curves(ax, scores_by_method[main], labels, colour, max_category_curves)
    for index, (method, scores) in enumerate(scores_by_method.items()):
        precision, recall, ap = pooled_precision_recall(scores, labels)
        style = "-" if method == main else "--"
        name = method_labels.get(method, method)
        ax.plot(
            recall, precision, style, color=method_colour(index), linewidth=2.0, label=f"{name} (AP {ap:.3f})"
        )
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    main_name = method_labels.get(main, main)
    ax.set_title(
        f"{group} categories: pooled curves; {n_thin} thin per-category curves ({main_name})", fontsize=9
    )
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)


def plot_precision_recall(
    scores_by_method: Mapping[str, np.ndarray],
    labels: np.ndarray,
    unseen_mask: np.ndarray,
    method_labels: Mapping[str, str],
    max_category_curves: int = 40,
) -> Figure:
    """Precision-recall curves, one panel for the seen and one for the unseen categories.

    Args:
        scores_by_method: Method → scores [N, C]; the first method is the main one (thin curves, solid line).
        labels: ``1`` / ``0`` / ``-1`` labels [N, C].
        unseen_mask: Boolean [C], True for unseen categories.
        method_labels: Method → display name.
        max_category_curves: Most per-category curves drawn per panel (spread over the categories).

    Returns:
        The figure.

    Raises:
        ValueError: If a group has categories but no known positive, or no method is given.
    """
    if not scores_by_method:
        raise ValueError("plot_precision_recall needs at least one method's scores")
    figure = new_figure(12, 5.5)
    axes = figure.subplots(1, 2)
    for ax, group, columns in zip(axes, ("seen", "unseen"), (~unseen_mask, unseen_mask), strict=True):
        if not columns.any():
            ax.text(0.5, 0.5, f"no {group} category in the vocabulary", ha="center", va="center")
            ax.set_axis_off()
            continue
        group_scores = {m: s[:, columns] for m, s in scores_by_method.items()}
        _draw_group(ax, group_scores, labels[:, columns], method_labels, group, max_category_curves)
    figure.suptitle(f"Precision-recall on {labels.shape[0]} test images")
    return figure
