"""Top-K predictions of several methods for a few test images (like the paper's Figs. 8 and 11).

Each row is one image; next to it, one column per method lists its K highest-scoring categories, green when
the category is a known positive, red when a known negative, grey when the label is unknown. Unseen
categories sit on a yellow background.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ovmlr.reporting.style import UNSEEN_BACKGROUND, label_colour, new_figure

PREDICTION_COLUMNS = ("image_id", "method", "rank", "name", "role", "score", "label")


def _draw_list(ax: Axes, ranked: pd.DataFrame) -> None:
    """One method's ranked categories as coloured lines of text."""
    step = 0.9 / max(len(ranked), 1)
    for line, item in enumerate(ranked.itertuples(index=False)):
        marker = "✓" if item.label == 1 else ("✗" if item.label == 0 else "?")
        box = (
            {"facecolor": UNSEEN_BACKGROUND, "edgecolor": "none", "pad": 1.5}
            if item.role == "unseen"
            else None
        )
        ax.text(
            0.02,
            0.92 - line * step,
            f"{item.rank + 1}. {marker} {item.name}  ({item.score:.2f})",
            transform=ax.transAxes,
            va="top",
            fontsize=9,
            color=label_colour(item.label),
            bbox=box,
        )
    ax.set_axis_off()


def plot_top_predictions(
    images: Mapping[str, np.ndarray],
    top_predictions: pd.DataFrame,
    positives: Mapping[str, Sequence[str]],
    method_labels: Mapping[str, str],
) -> Figure:
    """Images with each method's top-K categories, marked correct / incorrect / unknown and unseen.

    Args:
        images: Image id → RGB image [H, W, 3].
        top_predictions: ``image_id``, ``method``, ``rank`` (0 = top), ``name``, ``role``, ``score``,
            ``label`` (1 / 0 / -1); methods appear as columns in their order of first appearance.
        positives: Image id → its known positive categories (printed under the image).
        method_labels: Method → display name.

    Returns:
        The figure.

    Raises:
        ValueError: If columns are missing, the table is empty, or an image was not read.
    """
    missing = sorted(set(PREDICTION_COLUMNS) - set(top_predictions.columns))
    if missing:
        raise ValueError(f"top-prediction table lacks columns {missing}")
    image_ids = list(dict.fromkeys(top_predictions["image_id"]))
    methods = list(dict.fromkeys(top_predictions["method"]))
    if not image_ids:
        raise ValueError("top-prediction table is empty: no image to draw")
    absent = [i for i in image_ids if i not in images]
    if absent:
        raise ValueError(f"top-prediction table names images that were not read: {absent[:10]}")
    figure = new_figure(2.2 + 3.0 * len(methods), 2.3 * len(image_ids))
    axes = figure.subplots(
        len(image_ids), 1 + len(methods), squeeze=False, width_ratios=[1] + [1.6] * len(methods)
    )
    for row, image_id in enumerate(image_ids):
        axes[row, 0].imshow(images[image_id], interpolation="nearest")
        axes[row, 0].set(xticks=[], yticks=[], ylabel=str(image_id))
        axes[row, 0].set_xlabel(
            "positives: " + (", ".join(positives.get(image_id, [])) or "none"), fontsize=7
        )
        for col, method in enumerate(methods, start=1):
            chosen = top_predictions[
                (top_predictions["image_id"] == image_id) & (top_predictions["method"] == method)
            ]
            _draw_list(axes[row, col], chosen.sort_values("rank"))
            if row == 0:
                axes[row, col].set_title(method_labels.get(method, method), fontsize=10)
    figure.suptitle(
        "Top predictions: green = positive, red = negative, grey = unknown; yellow = unseen category"
    )
    return figure
