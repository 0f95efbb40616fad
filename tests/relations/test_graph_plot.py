"""The Fig. 10-style relation graph of one category."""

from __future__ import annotations

import pandas as pd
import pytest

from ovmlr.relations.graph_plot import (
    draw_relation_graph,
    pick_plot_target,
    relation_subgraph,
)


@pytest.fixture
def edges() -> pd.DataFrame:
    rows = [
        ("sneaker", "sandal", 3.0),
        ("ankle boot", "sandal", 0.8),  # a similarity-fallback edge
        ("ankle boot", "sneaker", 2.0),
        ("coat", "sneaker", 1.0),
        ("sneaker", "ankle boot", 2.0),
        ("coat", "ankle boot", 1.0),
    ]
    return pd.DataFrame(
        [
            {
                "source_name": s,
                "target_name": t,
                "score": v,
                "rank": 1,
                "source_id": 0,
                "target_id": 0,
                "relation_types": ["fallback:similarity"] if v < 1 else ["Co-occurrence"],
            }
            for s, t, v in rows
        ]
    )


def test_subgraph_keeps_the_target_its_neighbours_and_edges_among_them(edges):
    graph = relation_subgraph(edges, "sandal")
    assert sorted(graph.nodes) == ["ankle boot", "sandal", "sneaker"]
    assert sorted(graph.edges) == [
        ("ankle boot", "sandal"),
        ("ankle boot", "sneaker"),
        ("sneaker", "ankle boot"),
        ("sneaker", "sandal"),
    ]
    assert graph.edges["sneaker", "sandal"]["weight"] == 3.0
    assert [e for e in graph.edges if graph.edges[e]["fallback"]] == [("ankle boot", "sandal")]


def test_figure_draws_red_edges_into_the_target_and_gray_ones_between_neighbours(edges):
    figure = draw_relation_graph(relation_subgraph(edges, "sandal"), "sandal", "llm relations of 'sandal'")
    ax = figure.axes[0]
    assert ax.get_title() == "llm relations of 'sandal'"
    arrows = [p for p in ax.patches if p.__class__.__name__ == "FancyArrowPatch"]
    colours = sorted(tuple(round(c, 3) for c in a.get_edgecolor()[:3]) for a in arrows)
    assert len(arrows) == 4
    assert colours.count((0.839, 0.153, 0.157)) == 2  # #d62728, into the target
    assert sorted(a.get_linestyle() for a in arrows) == ["dashed", "solid", "solid", "solid"]  # fallback


def test_plot_target_defaults_to_the_first_unseen_category(category_split):
    assert pick_plot_target(category_split, None) == "sandal"
    assert pick_plot_target(category_split, "coat") == "coat"
    with pytest.raises(ValueError, match=r"plot.target 'hat' is not a category"):
        pick_plot_target(category_split, "hat")
