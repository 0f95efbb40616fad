"""The mined relation graph around a few categories (like the paper's Fig. 10), in one image.

Each graph is drawn by the relation_mining stage's own :func:`draw_relation_graph` (target orange, its K
seen neighbours blue, red edges into the target, edge width = score); this module picks the targets and
tiles the drawings into one figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ovmlr.relations.graph_plot import draw_relation_graph, relation_subgraph
from ovmlr.reporting.style import new_figure

EDGE_COLUMNS = ("source_id", "source_name", "target_id", "target_name", "score", "relation_types", "rank")


def render_rgba(figure: Figure) -> np.ndarray:
    """A figure rasterised to an RGBA uint8 array [H, W, 4] (at its own dpi)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def tile_figures(figures: Sequence[Figure], n_cols: int, title: str) -> Figure:
    """Several figures side by side in one figure (each rasterised into its own panel).

    Raises:
        ValueError: If there is no figure or ``n_cols`` < 1.
    """
    if not figures or n_cols < 1:
        raise ValueError(
            f"tile_figures needs at least one figure and n_cols >= 1, got {len(figures)}, {n_cols}"
        )
    n_cols = min(n_cols, len(figures))
    n_rows = -(-len(figures) // n_cols)
    tiled = new_figure(5.0 * n_cols, 5.0 * n_rows + 0.4, dpi=120)
    axes = tiled.subplots(n_rows, n_cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < len(figures):
            ax.imshow(render_rgba(figures[index]), interpolation="antialiased")
        ax.set_axis_off()
    tiled.suptitle(title)
    return tiled


def relation_graph_figures(
    edges: pd.DataFrame, targets: Sequence[str], unseen: Sequence[str]
) -> list[Figure]:
    """One :func:`draw_relation_graph` figure per target, titled with its role and neighbour count.

    Raises:
        ValueError: If ``edges`` lacks a column of the ``relation_edges`` contract or a target has no edge.
    """
    missing = sorted(set(EDGE_COLUMNS) - set(edges.columns))
    if missing:
        raise ValueError(f"relation_edges lacks columns {missing}")
    figures = []
    for target in targets:
        if not (edges["target_name"] == target).any():
            raise ValueError(f"relation_edges has no edge into category {target!r}")
        graph = relation_subgraph(edges, target)
        role = "unseen" if target in unseen else "seen"
        figures.append(
            draw_relation_graph(graph, target, f"{target} ({role}): {graph.in_degree(target)} neighbours")
        )
    return figures


def plot_relation_graphs(
    edges: pd.DataFrame, targets: Sequence[str], unseen: Sequence[str], n_cols: int = 3
) -> Figure:
    """The relation graphs of ``targets`` tiled into one figure.

    Args:
        edges: ``relation_edges`` (``source_name`` → ``target_name`` with ``score`` and ``rank``).
        targets: Category names whose neighbourhood is drawn.
        unseen: Names of the unseen categories (shown in the panel titles).
        n_cols: Panels per row.

    Returns:
        The figure.
    """
    figures = relation_graph_figures(edges, targets, unseen)
    return tile_figures(
        figures, n_cols, "Mined relations: target (orange) and its seen neighbours; width = score"
    )
