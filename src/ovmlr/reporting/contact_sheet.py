"""A contact sheet of predictions: thumbnails, each with its top labels and scores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import message_figure, new_figure


def plot_contact_sheet(
    predictions: pd.DataFrame, images: Mapping[str, np.ndarray], n_cols: int, top_k: int, title: str
) -> Figure:
    """Thumbnails in a grid, each captioned with its ``top_k`` labels and scores.

    Args:
        predictions: Rows with ``path``, ``top_labels`` and ``top_scores`` (lists, best first).
        images: RGB arrays by path (the images shown; others are left out).
        n_cols: Thumbnails per row.
        top_k: Labels per caption.
        title: The figure title.
    """
    rows = predictions[predictions["path"].isin(images.keys())]
    if rows.empty:
        return message_figure(title, "No image could be read: nothing to show.")
    n_cols = max(1, min(n_cols, len(rows)))
    n_rows = -(-len(rows) // n_cols)
    figure = new_figure(2.3 * n_cols, 2.9 * n_rows)
    for i, row in enumerate(rows.itertuples(index=False)):
        ax = figure.add_subplot(n_rows, n_cols, i + 1)
        ax.imshow(images[row.path])
        ax.set_xticks([])
        ax.set_yticks([])
        caption = "\n".join(
            f"{label} {score:.2f}"
            for label, score in zip(row.top_labels[:top_k], row.top_scores[:top_k], strict=True)
        )
        ax.set_xlabel(caption, fontsize=7)
        ax.set_title(_short(row.path), fontsize=6)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def _short(path: str, width: int = 28) -> str:
    name = str(path).rsplit("/", 1)[-1]
    return name if len(name) <= width else "…" + name[-(width - 1) :]
