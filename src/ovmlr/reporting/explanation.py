"""Why one image got its top labels: a row per label with ISR's heat map over the image as the model saw it
and IST's attention over the label's neighbours (``predict.explain: true``; the web page draws the same)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ovmlr.reporting.style import SEEN_COLOUR, SELECTION_COLOUR, UNSEEN_COLOUR, new_figure


def _draw_heat_map(ax: Axes, view: np.ndarray, weights: np.ndarray | None, grid: tuple[int, int]) -> None:
    """The model's view with ISR's pooling weights over it (cells off the selection left clear)."""
    rows, cols = grid
    ax.imshow(view, extent=(0, cols, rows, 0), interpolation="nearest")
    if weights is not None:
        heat = np.ma.masked_equal(np.asarray(weights, dtype=np.float64).reshape(rows, cols), 0.0)
        ax.imshow(
            heat, extent=(0, cols, rows, 0), cmap="autumn_r", alpha=0.55, vmin=0.0, interpolation="nearest"
        )
    else:
        ax.text(cols / 2, rows / 2, "no ISR", ha="center", va="center", color=SELECTION_COLOUR)
    ax.set(xlim=(0, cols), ylim=(rows, 0), xticks=[], yticks=[])


def _draw_neighbours(ax: Axes, entry: Any) -> None:
    """IST's attention over the label's neighbours as horizontal bars (seen grey, unseen/new blue)."""
    neighbours = list(entry.neighbours)
    if not neighbours:
        ax.text(0.5, 0.5, "no IST neighbours", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    names = [f"{n.name} ({n.status})" for n in neighbours]
    colours = [SEEN_COLOUR if n.status == "seen" else UNSEEN_COLOUR for n in neighbours]
    ax.barh(range(len(neighbours)), [n.weight for n in neighbours], color=colours)
    ax.set_yticks(range(len(neighbours)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("IST attention (mean over layers and heads)", fontsize=8)


def plot_explanation(view: np.ndarray, explanation: Any, title: str, top: int) -> Figure:
    """One image's ``top`` best-scored labels: ISR heat map and IST neighbours, a row per label.

    Args:
        view: The image as the model saw it, uint8 [H, W, 3] (:func:`ovmlr.trained.explain.model_view`).
        explanation: Its :class:`~ovmlr.trained.explain.ImageExplanation`.
        title: The figure's title (the image's path).
        top: How many labels, best score first.
    """
    entries = sorted(explanation.labels, key=lambda e: -e.score)[:top]
    figure = new_figure(7.5, 2.4 * len(entries) + 0.4)
    axes = figure.subplots(len(entries), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.6]})
    for (left, right), entry in zip(axes, entries, strict=True):
        _draw_heat_map(left, view, entry.patch_weights, explanation.grid)
        left.set_title(f"{entry.label}: {entry.score:.3f}", fontsize=9)
        _draw_neighbours(right, entry)
        neighbours_from = "mined in training" if entry.policy == "training" else f"{entry.policy} policy"
        right.set_title(f"{entry.status}; neighbours: {neighbours_from}", fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
