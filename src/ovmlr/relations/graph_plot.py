"""The relation graph of one target category, drawn like the paper's Fig. 10 (Supplement D.2).

The target is orange and its K neighbours blue; red edges carry information from a neighbour to the
target, gray edges between neighbours (where one is a neighbour of the other); node size grows with the
number of adjacent nodes drawn and edge width with the edge's score. Edges the similarity fallback
filled in are dashed.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
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


def relation_subgraph(edges: pd.DataFrame, target: str) -> nx.DiGraph:
    """The target, its neighbours, and every selected edge among those nodes (weights = scores)."""
    nodes = {target, *edges.loc[edges["target_name"] == target, "source_name"]}
    shown = edges[edges["target_name"].isin(nodes) & edges["source_name"].isin(nodes)]
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(nodes))
    for row in shown.itertuples(index=False):
        fallback = FALLBACK_TYPE in list(row.relation_types)
        graph.add_edge(
            row.source_name, row.target_name, weight=float(row.score), rank=int(row.rank), fallback=fallback
        )
    return graph


def _layout(graph: nx.DiGraph, target: str) -> dict[str, np.ndarray]:
    others = [n for n in graph.nodes if n != target]
    angles = np.linspace(0.0, 2.0 * np.pi, num=len(others), endpoint=False) + np.pi / 2
    positions = {name: np.array([np.cos(a), np.sin(a)]) for name, a in zip(others, angles, strict=True)}
    return {**positions, target: np.zeros(2)}


def _widths(graph: nx.DiGraph, edges: list[tuple[str, str]]) -> list[float]:
    weights = np.array([graph.edges[e]["weight"] for e in edges], dtype=float)
    if weights.size == 0:
        return []
    low, high = weights.min(), weights.max()
    scaled = (weights - low) / (high - low) if high > low else np.ones_like(weights)
    return list(1.0 + 3.0 * scaled)


def draw_relation_graph(graph: nx.DiGraph, target: str, title: str) -> Figure:
    """A matplotlib figure of :func:`relation_subgraph` (no pyplot state is touched)."""
    figure = Figure(figsize=(7, 7), dpi=110)
    ax = figure.add_subplot()
    pos = _layout(graph, target)
    to_target = [e for e in graph.edges if e[1] == target]
    between = [e for e in graph.edges if e[1] != target]
    degree = dict(nx.Graph(graph).degree())
    sizes = [600 + 350 * degree[n] for n in graph.nodes]
    colours = [TARGET_COLOUR if n == target else OTHER_COLOUR for n in graph.nodes]
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=sizes, node_color=colours)
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=9)
    for edge_list, colour in ((between, OTHER_EDGE), (to_target, TARGET_EDGE)):
        widths = dict(zip(edge_list, _widths(graph, edge_list), strict=True))
        for dashed in (False, True):
            part = [e for e in edge_list if graph.edges[e]["fallback"] == dashed]
            _draw_edges(graph, pos, ax, part, colour, [widths[e] for e in part], sizes, dashed)
    ax.set_title(title)
    ax.set_axis_off()
    ax.margins(0.15)
    return figure


def _draw_edges(
    graph: nx.DiGraph,
    pos: dict[str, np.ndarray],
    ax,
    edges: list[tuple[str, str]],
    colour: str,
    widths: list[float],
    node_sizes: list[int],
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
