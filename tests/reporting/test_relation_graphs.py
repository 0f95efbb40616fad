"""Mined relation graphs of a few categories, tiled into one figure."""

from __future__ import annotations

import pandas as pd
import pytest

from ovmlr.reporting.relation_graphs import plot_relation_graphs, relation_graph_figures, tile_figures


def _edges() -> pd.DataFrame:
    rows = [
        ("cat", "lion", 0.9, 0),
        ("dog", "lion", 0.4, 1),
        ("car", "truck", 0.8, 0),
        ("dog", "cat", 0.7, 0),
    ]
    ids = {"cat": 0, "dog": 1, "car": 2, "lion": 3, "truck": 4}
    return pd.DataFrame(
        [
            {"source_id": ids[s], "source_name": s, "target_id": ids[t], "target_name": t, "score": w,
             "relation_types": ["llm"], "rank": r}
            for s, t, w, r in rows
        ]
    )  # fmt: skip


def test_one_drawing_per_target_with_its_neighbours() -> None:
    figures = relation_graph_figures(_edges(), ["lion", "truck"], unseen=["lion", "truck"])
    assert [f.axes[0].get_title() for f in figures] == [
        "lion (unseen): 2 neighbours",
        "truck (unseen): 1 neighbours",
    ]


def test_tiled_figure_has_one_image_panel_per_target(png_bytes) -> None:
    figure = plot_relation_graphs(_edges(), ["lion", "truck", "cat"], unseen=["lion", "truck"], n_cols=2)
    assert [len(ax.images) for ax in figure.axes] == [1, 1, 1, 0]
    assert figure.axes[0].images[0].get_array().shape[2] == 4  # RGBA raster of the drawing
    assert png_bytes(figure) > 10_000


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="no edge into category 'zebra'"):
        plot_relation_graphs(_edges(), ["zebra"], unseen=[])
    with pytest.raises(ValueError, match=r"lacks columns \['score'\]"):
        plot_relation_graphs(_edges().drop(columns="score"), ["lion"], unseen=[])
    with pytest.raises(ValueError, match="at least one figure"):
        tile_figures([], 2, "empty")
