"""Fig. 7 on the tiny seeded world: IST's attention table of the evaluated model, its heatmap, and the
model without IST (an empty table and a notice, never an error)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from ovmlr.core.features import assemble_full_split
from ovmlr.core.model_factory import build_model
from ovmlr.evaluation.attention import compact_graph, ist_attention
from ovmlr.pipelines.evaluation.nodes import (
    plot_ist_attention,
    select_ist_attention,
)
from ovmlr.reporting.attention import ATTENTION_TABLE_COLUMNS

NAMES = ("cat", "dog", "car", "tree", "lion", "truck")  # the world's vocabulary (conftest)
LAYERS, K = 2, 2  # c2srt_small's IST layers; the world's neighbours per category


def _split(world):
    inputs = world.inputs
    return assemble_full_split(
        inputs["image_embeddings"], inputs["image_keys"], inputs["test_labels"], world.vocabulary
    )


def _table(champion, split, targets=None, max_targets=12, max_images=512, batch_size=5) -> pd.DataFrame:
    return select_ist_attention(champion, split, targets, max_targets, max_images, 0, batch_size, "cpu")


def _direct_attention(world) -> list[np.ndarray]:
    """The head's attention on all test images in one pass: L × [N, C, K, H]."""
    model = build_model(world.model_config)
    model.load_state_dict(world.champion.head_state)
    with torch.inference_mode():
        alpha = model.eval().attention(
            torch.from_numpy(world.global_feats),
            torch.from_numpy(world.patch_feats),
            torch.from_numpy(world.vocabulary.text),
            torch.from_numpy(world.vocabulary.neighbours),
        )
    return [a.numpy() for a in alpha]


def test_attention_table_has_a_row_per_layer_target_and_slot(world) -> None:
    table = _table(world.champion, _split(world))
    assert list(table.columns) == list(ATTENTION_TABLE_COLUMNS)
    assert len(table) == LAYERS * 2 * K  # 2 unseen targets
    assert not table.duplicated(["layer", "target", "k"]).any()
    assert list(dict.fromkeys(table["target"])) == ["lion", "truck"]
    assert set(table["target_role"]) == {"unseen"} and set(table["neighbour_role"]) == {"seen"}
    sums = table.groupby(["layer", "target"])["alpha"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-5)
    lion = table[(table["layer"] == 1) & (table["target"] == "lion")]
    assert lion["neighbour"].tolist() == ["cat", "dog"]  # NEIGHBOURS[4] = [0, 1]
    assert set(table["n_images"]) == {12}


def test_attention_table_equals_the_heads_coefficients(world) -> None:
    """Batched (5 images a pass), kept for the targets only: the same α as one pass over everything."""
    table = _table(world.champion, _split(world), batch_size=5)
    direct = _direct_attention(world)
    for layer, alpha in enumerate(direct, start=1):
        per_image = alpha[:, [4, 5]].mean(axis=-1)  # [N, T, K], head mean
        rows = table[table["layer"] == layer]
        np.testing.assert_allclose(rows["alpha"], per_image.mean(axis=0).ravel(), atol=1e-6)
        np.testing.assert_allclose(rows["alpha_std"], per_image.std(axis=0).ravel(), atol=1e-6)


def test_ist_attention_keeps_the_requested_categories(world) -> None:
    split = _split(world)
    rows = np.array([0, 3, 7])
    alpha = ist_attention(world.champion, split, rows, np.array([5, 1]), 2, torch.device("cpu"))
    direct = _direct_attention(world)
    assert len(alpha) == LAYERS and alpha[0].shape == (3, 2, K, 2) and alpha[0].dtype == np.float32
    for got, full in zip(alpha, direct, strict=True):
        np.testing.assert_allclose(got, full[rows][:, [5, 1]], atol=1e-6)


def test_large_splits_are_subsampled_with_the_seed(world) -> None:
    split = _split(world)
    first = _table(world.champion, split, max_images=5)
    again = _table(world.champion, split, max_images=5)
    assert set(first["n_images"]) == {5}
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["alpha_std"], _table(world.champion, split)["alpha_std"])


def test_named_targets_are_kept_in_order_up_to_max_targets(world) -> None:
    table = _table(world.champion, _split(world), targets=["truck", "dog", "lion"], max_targets=2)
    assert list(dict.fromkeys(table["target"])) == ["truck", "dog"]
    assert table[table["target"] == "dog"]["neighbour"].tolist()[:K] == ["cat", "tree"]


def test_an_unknown_target_names_the_parameter(world) -> None:
    with pytest.raises(ValueError, match=r"evaluation\.reports\.attention\.targets \['zebra'\]"):
        _table(world.champion, _split(world), targets=["zebra"])


def test_compact_graph_keeps_the_targets_and_their_neighbours(world) -> None:
    alpha = [np.full((3, 2, K, 1), 0.5, dtype=np.float32)]
    padded, neighbours, names, roles = compact_graph(world.vocabulary, [5, 3], alpha)
    assert names == ["truck", "tree", "car", "dog"] and roles == ["unseen", "seen", "seen", "seen"]
    # truck → car, tree; tree → car, dog (dog joins the compact vocabulary)
    assert neighbours[:2].tolist() == [[2, 1], [2, 3]]
    assert padded[0].shape == (3, 4, K, 1) and np.all(padded[0][:, 2:] == 0)


def test_attention_heatmap_draws_the_last_layer_by_default(world) -> None:
    table = _table(world.champion, _split(world))
    figure = plot_ist_attention(table, None)
    assert isinstance(figure, Figure) and figure.axes[0].images
    assert f"IST layer {LAYERS} of {LAYERS}" in figure.axes[0].get_title()
    assert "IST layer 1 of" in plot_ist_attention(table, 1).axes[0].get_title()


@pytest.mark.parametrize("override", [{"use_ist": False}, {"head": "mkt"}])
def test_a_model_without_ist_gives_an_empty_table_and_a_notice(
    world, tmp_path, small_config, make_model, save_model, caplog, override
) -> None:
    champion = save_model(make_model(small_config(**override), world.vocabulary), tmp_path / "no_ist")
    with caplog.at_level(logging.WARNING):
        table = _table(champion, _split(world))
    assert table.empty and list(table.columns) == list(ATTENTION_TABLE_COLUMNS)
    assert "no IST" in caplog.text
    figure = plot_ist_attention(table, None)
    assert "No IST in this model" in figure.axes[0].texts[0].get_text()
