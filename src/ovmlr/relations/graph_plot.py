"""The relation graph of one or a few target categories, drawn like the paper's Fig. 10 (Supplement D.2).

The targets are orange and their K neighbours blue; red edges carry information from a neighbour to a
target, gray edges between neighbours (where one is a neighbour of the other); node size grows with the
number of adjacent nodes drawn and edge width with the edge's score. Edges the similarity fallback
filled in are dashed. :func:`draw_relation_panel` draws on a given matplotlib ``Axes`` (one panel of a
comparison, :mod:`.compare`); :func:`draw_relation_graph` is the one-panel figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .neighbours import FALLBACK_TYPE

TARGET_COLOUR, OTHER_COLOUR = "#f28e2b", "#4e79a7"
TARGET_EDGE, OTHER_EDGE = "#d62728", "#9e9e9e"


def pick_plot_target(category_split: pd.DataFrame, target: str | None) -> str:
    """``target`` if it is a category name; ``None`` picks the first unseen (else first) category."""
    names = category_split["name"].tolist()
    if target is None:
        unseen = category_split.loc[category_split["role"] == "unseen", "name"].tolist()
        return (unseen or names)[0]
    if target not in names:
        raise ValueError(
            f"relation_mining.plot.target {target!r} is not a category; categories: {names[:10]}..."
        )
    return target


def _target_list(target: str | Sequence[str]) -> list[str]:
    return [target] if isinstance(target, str) else list(dict.fromkeys(target))


def relation_subgraph(edges: pd.DataFrame, target: str | Sequence[str]) -> nx.DiGraph:
    """The target(s), their neighbours, and every selected edge among those nodes (weights = scores)."""
    targets = _target_list(target)
    nodes = {*targets, *edges.loc[edges["target_name"].isin(targets), "source_name"]}
    shown = edges[edges["target_name"].isin(nodes) & edges["source_name"].isin(nodes)]
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(nodes))
    for row in shown.itertuples(index=False):
        fallback = FALLBACK_TYPE in list(row.relation_types)
        graph.add_edge(
            row.source_name, row.target_name, weight=float(row.score), rank=int(row.rank), fallback=fallback
        )
    return graph


def _ring(names: list[str], radius: float, start: float) -> dict[str, np.ndarray]:
    angles = start + np.linspace(0.0, 2.0 * np.pi, num=len(names), endpoint=False)
    return {name: radius * np.array([np.cos(a), np.sin(a)]) for name, a in zip(names, angles, strict=True)}


def _layout(graph: nx.DiGraph, targets: list[str]) -> dict[str, np.ndarray]:
    """One target in the centre; several on an inner ring, each with its neighbours outside it.

    A neighbour belongs to the first target it points to; the outer ring lists the groups in target order,
    turned so that the first group faces the first target.
    """
    group = {
        n: next((i for i, t in enumerate(targets) if graph.has_edge(n, t)), len(targets))
        for n in graph
        if n not in targets
    }
    others = sorted(group, key=lambda n: (group[n], n))
    if len(targets) == 1:
        return {**_ring(others, 1.0, np.pi / 2), targets[0]: np.zeros(2)}
    first = sum(1 for n in others if group[n] == 0)
    start = np.pi / 2 - np.pi * (first - 1) / max(len(others), 1)
    return {**_ring(others, 1.0, start), **_ring(targets, 0.4, np.pi / 2)}


def _widths(graph: nx.DiGraph, edges: list[tuple[str, str]]) -> list[float]:
    weights = np.array([graph.edges[e]["weight"] for e in edges], dtype=float)
    if weights.size == 0:
        return []
    low, high = weights.min(), weights.max()
    scaled = (weights - low) / (high - low) if high > low else np.ones_like(weights)
    return list(1.0 + 3.0 * scaled)


def draw_relation_panel(
    ax: Axes, graph: nx.DiGraph, target: str | Sequence[str], title: str, node_scale: float = 1.0
) -> None:
    """Draw :func:`relation_subgraph` on ``ax`` (red edges into the target(s), dashed fallback edges).

    Args:
        ax: The axes drawn on (its axis is switched off).
        graph: The subgraph of ``target``.
        target: The target category, or several (drawn on an inner ring).
        title: The panel's title.
        node_scale: Factor on the node sizes and label font (small panels: < 1).
    """
    targets = _target_list(target)
    pos = _layout(graph, targets)
    to_target = [e for e in graph.edges if e[1] in targets]
    between = [e for e in graph.edges if e[1] not in targets]
    degree = dict(nx.Graph(graph).degree())
    sizes = [node_scale * (600 + 350 * degree[n]) for n in graph.nodes]
    colours = [TARGET_COLOUR if n in targets else OTHER_COLOUR for n in graph.nodes]
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=sizes, node_color=colours)
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=max(6.0, 9 * node_scale))
    for edge_list, colour in ((between, OTHER_EDGE), (to_target, TARGET_EDGE)):
        widths = dict(zip(edge_list, _widths(graph, edge_list), strict=True))
        for dashed in (False, True):
            part = [e for e in edge_list if graph.edges[e]["fallback"] == dashed]
            _draw_edges(graph, pos, ax, part, colour, [widths[e] for e in part], sizes, dashed)
    ax.set_title(title)
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.margins(0.15)


def draw_relation_graph(graph: nx.DiGraph, target: str, title: str) -> Figure:
    """A matplotlib figure of :func:`relation_subgraph` (no pyplot state is touched)."""
    figure = Figure(figsize=(7, 7), dpi=110)
    draw_relation_panel(figure.add_subplot(), graph, target, title)
    return figure


def _draw_edges(
    graph: nx.DiGraph,
    pos: dict[str, np.ndarray],
    ax: Axes,
    edges: list[tuple[str, str]],
    colour: str,
    widths: list[float],
    node_sizes: list[float],
    dashed: bool,
) -> None:
    if edges:
        nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=edges,
            ax=ax,
            edge_color=colour,
            width=widths,
            style="dashed" if dashed else "solid",
            arrows=True,
            arrowsize=14,
            node_size=node_sizes,
            connectionstyle="arc3,rad=0.08",
        )
