"""Which patches ISR selected for an image's top categories (like the paper's Figs. 2b and 6): the image
with the selected cells of the patch grid tinted and outlined, one panel per (image, category)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ovmlr.reporting.images import center_square, patch_grid_side
from ovmlr.reporting.style import SELECTION_COLOUR, label_colour, new_figure

SELECTION_COLUMNS = ("image_id", "rank", "name", "role", "score", "label", "patches")
CROPS = ("center", "full")


def _draw_selection(ax: Axes, image: np.ndarray, patches: np.ndarray, side: int) -> None:
    """The image stretched over a ``side`` × ``side`` grid, selected cells tinted and outlined."""
    ax.imshow(image, extent=(0, side, side, 0), interpolation="nearest")
    for index in patches:
        row, col = divmod(int(index), side)
        ax.add_patch(Rectangle((col, row), 1, 1, facecolor=SELECTION_COLOUR, alpha=0.45, edgecolor="none"))
        ax.add_patch(Rectangle((col, row), 1, 1, fill=False, edgecolor=SELECTION_COLOUR, linewidth=1.2))
    ax.set(xlim=(0, side), ylim=(side, 0), xticks=[], yticks=[])


def _draw_row(axes: np.ndarray, image: np.ndarray, ranked: pd.DataFrame, side: int) -> None:
    """One image's panels, its categories in rank order; spare panels are blank."""
    for col, ax in enumerate(axes):
        if col >= len(ranked):
            ax.set_axis_off()
            continue
        item = ranked.iloc[col]
        _draw_selection(ax, image, np.asarray(item["patches"]), side)
        unseen = " (unseen)" if item["role"] == "unseen" else ""
        count = len(item["patches"])
        title = (
            f"{item['name']}{unseen}\nscore {item['score']:.2f}, {count} patch{'es' if count != 1 else ''}"
        )
        ax.set_title(title, fontsize=8, color=label_colour(item["label"]))


def plot_isr_selection(
    images: Mapping[str, np.ndarray], selections: pd.DataFrame, num_patches: int, crop: str = "center"
) -> Figure:
    """A grid: one row per image, one column per top-ranked category, ISR's selected patches outlined.

    Args:
        images: Image id → RGB image [H, W, 3].
        selections: One row per (image, category): ``image_id``, ``rank`` (0 = top), ``name``, ``role``,
            ``score``, ``label`` (1 / 0 / -1), ``patches`` (indices of the selected patches, row-major).
        num_patches: P, a perfect square (the backbone's patch grid).
        crop: ``center``: the patch grid covers the central square (CLIP's resize + center crop);
            ``full``: it covers the whole image (a squashing resize).

    Returns:
        The figure; panel titles are green (positive), red (negative) or grey (unknown label).

    Raises:
        ValueError: On an unknown crop, missing columns, or an image without a selection.
    """
    if crop not in CROPS:
        raise ValueError(f"isr_selection crop must be one of {CROPS}, got {crop!r}")
    missing = sorted(set(SELECTION_COLUMNS) - set(selections.columns))
    if missing:
        raise ValueError(f"ISR selection table lacks columns {missing}")
    side = patch_grid_side(num_patches)
    image_ids = list(dict.fromkeys(selections["image_id"]))
    if not image_ids:
        raise ValueError("ISR selection table is empty: no image to draw")
    absent = [i for i in image_ids if i not in images]
    if absent:
        raise ValueError(f"ISR selection names images that were not read: {absent[:10]}")
    n_cols = int(selections.groupby("image_id").size().max())
    figure = new_figure(2.4 * n_cols, 2.6 * len(image_ids))
    axes = np.atleast_2d(figure.subplots(len(image_ids), n_cols, squeeze=False))
    for row, image_id in enumerate(image_ids):
        image = images[image_id] if crop == "full" else center_square(images[image_id])
        _draw_row(axes[row], image, selections[selections["image_id"] == image_id].sort_values("rank"), side)
        axes[row, 0].set_ylabel(str(image_id), fontsize=8)
    figure.suptitle(
        "ISR patch selection of each image's top categories\n"
        "(title: green = positive, red = negative, grey = unknown label)",
        fontsize=9,
    )
    return figure
