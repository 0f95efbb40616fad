"""Fig. 10: the relation sources side by side, and the agreement of their neighbour sets."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from ovmlr.pipelines.relation_mining import create_pipeline
from ovmlr.pipelines.relation_mining.nodes import compare_relation_sources
from ovmlr.relations.compare import (
    OVERLAP_COLUMNS,
    draw_source_comparison,
    jaccard,
    neighbour_overlap,
    pick_compare_targets,
    source_edges,
)
from ovmlr.relations.graph_plot import (
    TARGET_COLOUR,
    _layout,
    draw_relation_graph,
    draw_relation_panel,
    relation_subgraph,
)
from ovmlr.relations.llm_scores import SCORE_COLUMNS
from ovmlr.relations.neighbours import FALLBACK_TYPE

SOURCES = ["cooccurrence", "similarity", "llm"]
NO_LLM = pd.DataFrame(columns=SCORE_COLUMNS)


@pytest.fixture
def llm_scores() -> pd.DataFrame:
    """The LLM relates sandal to sneaker and coat, shirt to t-shirt; nothing else (fallback)."""
    return pd.DataFrame(
        {
            "category_id": [4, 4, 5],
            "source_id": [0, 1, 2],
            "score": [3.0, 1.0, 2.0],
            "relation_types": [["Co-occurrence"], ["Co-occurrence"], ["Synonymy/Similarity"]],
        }
    )


@pytest.fixture
def inputs(category_split, text_features, train_labels) -> dict:
    return {"category_split": category_split, "text_features": text_features, "train_labels": train_labels}


def edge_table(neighbours: dict[int, list[int]]) -> pd.DataFrame:
    """A minimal ``relation_edges`` table: target id → its neighbour ids, best first."""
    rows = [
        {"source_id": s, "target_id": t, "source_name": f"c{s}", "target_name": f"c{t}", "rank": r + 1}
        for t, sources in neighbours.items()
        for r, s in enumerate(sources)
    ]
    return pd.DataFrame(rows).assign(score=1.0, relation_types=[["x"]] * len(rows))


def test_jaccard_on_hand_made_sets():
    assert jaccard(frozenset({0, 1}), frozenset({0, 2})) == pytest.approx(1 / 3)
    assert jaccard(frozenset({0, 1}), frozenset({1, 0})) == 1.0
    assert jaccard(frozenset({0}), frozenset({1})) == 0.0
    assert jaccard(frozenset(), frozenset()) == 1.0


def test_overlap_is_one_for_identical_sources_and_the_mean_jaccard_otherwise(category_split):
    a = edge_table({0: [1, 2], 1: [0, 2], 2: [0, 1], 3: [0, 1], 4: [0, 1], 5: [1, 2]})
    b = edge_table({0: [1, 2], 1: [0, 2], 2: [0, 1], 3: [0, 2], 4: [0, 2], 5: [1, 2]})
    overlap = neighbour_overlap({"a": a, "same": a.copy(), "b": b}, category_split)
    assert overlap.columns.tolist() == OVERLAP_COLUMNS
    table = overlap.set_index(["source", "other_source"])
    assert table.loc[("a", "same")].tolist() == [1.0, 1.0, 1.0]
    assert (table.loc[[(s, s) for s in ("a", "same", "b")], "mean_jaccard"] == 1.0).all()
    # categories 3 and 4 share one of three neighbours ({0,1} vs {0,2}); the other four agree
    np.testing.assert_allclose(
        table.loc[("a", "b")].to_numpy(), [(4 + 2 / 3) / 6, (3 + 1 / 3) / 4, (1 + 1 / 3) / 2]
    )
    assert table.loc[("b", "a")].tolist() == table.loc[("a", "b")].tolist()  # symmetric
    assert len(overlap) == 9


def test_overlap_of_a_role_without_categories_is_nan(category_split):
    edges = edge_table({0: [1], 1: [0], 2: [0], 3: [0]})
    seen_only = category_split[category_split["role"] == "seen"]
    row = neighbour_overlap({"a": edges}, seen_only).iloc[0]
    assert row["mean_jaccard"] == 1.0 and np.isnan(row["mean_jaccard_unseen"])


def test_every_source_selected_as_relation_neighbours_does(inputs, llm_scores):
    edges, skipped = source_edges(
        **inputs, llm_relation_scores=llm_scores, sources=SOURCES, k=2, fallback="similarity", seed=0
    )
    assert list(edges) == SOURCES and skipped == {}
    sandal = {s: e[e["target_name"] == "sandal"]["source_name"].tolist() for s, e in edges.items()}
    assert sandal == {
        "cooccurrence": ["sneaker", "ankle boot"],  # unseen: similarity fallback only
        "similarity": ["sneaker", "ankle boot"],
        "llm": ["sneaker", "coat"],
    }
    fallback = edges["cooccurrence"]["relation_types"].map(lambda types: FALLBACK_TYPE in types)
    assert set(edges["cooccurrence"].loc[fallback, "target_name"]) == {
        "coat",
        "ankle boot",
        "sandal",
        "shirt",
    }


def test_llm_is_skipped_with_a_logged_note_when_its_scores_are_empty(inputs, caplog):
    with caplog.at_level(logging.INFO, logger="ovmlr.relations.compare"):
        edges, skipped = source_edges(
            **inputs, llm_relation_scores=NO_LLM, sources=SOURCES, k=2, fallback="similarity", seed=0
        )
    assert list(edges) == ["cooccurrence", "similarity"]
    assert skipped == {"llm": "no LLM relation scores"}
    assert "'llm' not drawn: llm_relation_scores is empty" in caplog.text
    figure = draw_source_comparison(edges, ["sandal", "shirt"], 2, skipped)
    assert len(figure.axes) == 2
    assert figure.get_suptitle().endswith("\nnot drawn: llm: no LLM relation scores")


def test_wordnet_without_its_database_is_skipped_with_a_note(inputs):
    edges, skipped = source_edges(
        **inputs,
        llm_relation_scores=NO_LLM,
        sources=["wordnet", "similarity"],
        k=2,
        fallback="similarity",
        seed=0,
        wordnet={"root": "/nonexistent/wn"},
    )
    assert list(edges) == ["similarity"]
    assert skipped == {"wordnet": "no WordNet database at /nonexistent/wn"}


def test_a_source_short_of_k_under_the_fail_fallback_is_skipped_with_a_note(inputs, caplog):
    with caplog.at_level(logging.INFO, logger="ovmlr.relations.compare"):
        edges, skipped = source_edges(
            **inputs, llm_relation_scores=NO_LLM, sources=SOURCES[:2], k=2, fallback="fail", seed=0
        )
    assert list(edges) == ["similarity"]
    assert skipped == {"cooccurrence": "fewer than k=2 neighbours (fallback: fail)"}
    assert "'sandal' (0 of 2)" in caplog.text


@pytest.mark.parametrize(
    ("sources", "k", "message"),
    [
        (["similarity", "similarity"], 2, r"compare_sources must list distinct sources"),
        ([], 2, r"compare_sources must list distinct sources"),
        (["text"], 2, r"relation_mining.plot.compare_sources must be one of .* got 'text'"),
        (["similarity"], 4, r"relation_mining.k must be in \[1, 3\]"),
    ],
)
def test_bad_parameters_fail_naming_them(inputs, sources, k, message):
    with pytest.raises(ValueError, match=message):
        source_edges(
            **inputs, llm_relation_scores=NO_LLM, sources=sources, k=k, fallback="similarity", seed=0
        )


def test_targets_default_to_the_first_unseen_categories(category_split):
    assert pick_compare_targets(category_split, None, 3) == ["sandal", "shirt"]
    assert pick_compare_targets(category_split, None, 1) == ["sandal"]
    seen_only = category_split[category_split["role"] == "seen"]
    assert pick_compare_targets(seen_only, None, 2) == ["sneaker", "coat"]
    assert pick_compare_targets(category_split, ["coat", "shirt", "coat"], 1) == ["coat", "shirt"]
    with pytest.raises(ValueError, match=r"compare_targets must be category names.*unknown: \['hat'\]"):
        pick_compare_targets(category_split, ["coat", "hat"], 3)
    with pytest.raises(ValueError, match=r"compare_max_targets must be >= 1, got 0"):
        pick_compare_targets(category_split, None, 0)


def test_one_panel_per_source_with_the_same_targets_and_dashed_fallback_edges(inputs, llm_scores):
    edges, _ = source_edges(
        **inputs, llm_relation_scores=llm_scores, sources=SOURCES, k=2, fallback="similarity", seed=0
    )
    figure = draw_source_comparison(edges, ["sandal", "shirt"], 2)
    assert [ax.get_title().split("\n")[0] for ax in figure.axes] == SOURCES
    assert figure.axes[0].get_title().endswith("4 of 4 edges into the targets from the fallback")
    assert "not drawn" not in figure.get_suptitle()
    for ax in figure.axes:  # both targets orange in every panel
        labels = {t.get_text() for t in ax.texts}
        assert {"sandal", "shirt"} <= labels
    red = (0.839, 0.153, 0.157)  # #d62728, into a target
    into = [
        a
        for a in figure.axes[0].patches
        if a.__class__.__name__ == "FancyArrowPatch"
        and tuple(round(c, 3) for c in a.get_edgecolor()[:3]) == red
    ]
    assert len(into) == 4 and {a.get_linestyle() for a in into} == {"dashed"}  # cooccurrence: all fallback


def test_no_source_left_gives_a_figure_that_says_so():
    figure = draw_source_comparison({}, ["sandal"], 2, {"llm": "no LLM relation scores"})
    assert figure.axes[0].texts[0].get_text() == "no relation source could be drawn"
    assert "not drawn: llm" in figure.get_suptitle()


def test_panel_draws_on_a_given_axes_and_the_figure_function_still_works(inputs):
    edges, _ = source_edges(
        **inputs, llm_relation_scores=NO_LLM, sources=["similarity"], k=2, fallback="similarity", seed=0
    )
    edges = edges["similarity"]
    figure = Figure()
    left, right = figure.subplots(1, 2)
    draw_relation_panel(right, relation_subgraph(edges, ["sandal", "shirt"]), ["sandal", "shirt"], "two")
    assert right.get_title() == "two" and not left.patches and right.patches
    single = draw_relation_graph(relation_subgraph(edges, "sandal"), "sandal", "one")
    assert single.axes[0].get_title() == "one" and len(single.axes) == 1
    colours = right.collections[0].get_facecolors()
    assert (
        sum(
            tuple(c[:3]) == tuple(int(TARGET_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5)) for c in colours
        )
        == 2
    )


def test_several_targets_sit_on_an_inner_ring_one_in_the_centre(inputs):
    edges, _ = source_edges(
        **inputs, llm_relation_scores=NO_LLM, sources=["similarity"], k=2, fallback="similarity", seed=0
    )
    edges = edges["similarity"]
    two = _layout(relation_subgraph(edges, ["sandal", "shirt"]), ["sandal", "shirt"])
    assert np.linalg.norm(two["sandal"]) == pytest.approx(0.4) and np.linalg.norm(
        two["shirt"]
    ) == pytest.approx(0.4)
    assert np.linalg.norm(two["coat"]) == pytest.approx(1.0)
    # each target faces its own neighbours: sandal (top) is nearer sneaker than shirt is
    assert np.linalg.norm(two["sandal"] - two["sneaker"]) < np.linalg.norm(two["shirt"] - two["sneaker"])
    one = _layout(relation_subgraph(edges, "sandal"), ["sandal"])
    np.testing.assert_allclose(one["sandal"], [0.0, 0.0])
    np.testing.assert_allclose(one["ankle boot"], [0.0, 1.0], atol=1e-12)  # first name at the top


def test_node_and_pipeline_slice_on_an_in_memory_catalog(inputs, llm_scores):
    params = {
        "k": 2,
        "fallback": "similarity",
        "seed": 0,
        "wordnet": {"root": "/nonexistent/wn"},
        "plot.compare_sources": ["cooccurrence", "similarity", "wordnet", "llm"],
        "plot.compare_targets": None,
        "plot.compare_max_targets": 3,
    }
    catalog = DataCatalog(
        {name: MemoryDataset(frame) for name, frame in inputs.items()}
        | {"llm_relation_scores": MemoryDataset(llm_scores)}
        | {f"params:relation_mining.{key}": MemoryDataset(value) for key, value in params.items()}
        | {
            "relation_graphs_compared": MemoryDataset(copy_mode="assign"),
            "relation_source_overlap": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_pipeline().filter(node_names=["compare_relation_sources_node"]), catalog)
    figure, overlap = catalog.load("relation_graphs_compared"), catalog.load("relation_source_overlap")
    assert [ax.get_title().split("\n")[0] for ax in figure.axes] == SOURCES
    assert figure.get_suptitle().startswith("Relation graphs of 'sandal', 'shirt' by source (K=2)")
    assert "not drawn: wordnet: no WordNet database at /nonexistent/wn" in figure.get_suptitle()
    assert overlap["source"].unique().tolist() == SOURCES
    direct = compare_relation_sources(
        **inputs,
        llm_relation_scores=llm_scores,
        k=2,
        fallback="similarity",
        seed=0,
        wordnet={"root": "/nonexistent/wn"},
        sources=SOURCES,
        targets=["shirt"],
        max_targets=3,
    )
    pd.testing.assert_frame_equal(direct[1], overlap)
    assert direct[0].get_suptitle().startswith("Relation graphs of 'shirt' by source")
