"""Attention of unseen categories over their seen neighbours (Fig. 7): the table and the heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ovmlr.reporting.attention import ATTENTION_TABLE_COLUMNS, attention_heatmap, attention_table, shorten

NAMES = ["cat", "dog", "zebra", "okapi"]
ROLES = ["seen", "seen", "unseen", "unseen"]
NEIGHBOURS = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])  # [C=4, K=2]


def _attention() -> list[np.ndarray]:
    """Two layers, N = 2 images, H = 2 heads; every (image, category, head) row sums to 1 over K."""
    layer1 = np.full((2, 4, 2, 2), 0.5)
    # zebra (2): image 0 heads (0.8, 0.6) on slot 0 → head mean 0.7; image 1 heads (0.4, 0.2) → 0.3.
    layer1[0, 2, :, 0], layer1[0, 2, :, 1] = [0.8, 0.2], [0.6, 0.4]
    layer1[1, 2, :, 0], layer1[1, 2, :, 1] = [0.4, 0.6], [0.2, 0.8]
    layer2 = np.full((2, 4, 2, 2), 0.5)
    layer2[:, 3, :, :] = np.array([0.9, 0.1])[None, :, None]  # okapi: 0.9 on slot 0 (dog) everywhere
    return [layer1, layer2]


def test_table_averages_heads_then_images() -> None:
    table = attention_table(_attention(), NEIGHBOURS, NAMES, ROLES)
    assert list(table.columns) == list(ATTENTION_TABLE_COLUMNS)
    assert len(table) == 2 * 2 * 2  # layers × unseen targets × K
    zebra = table[(table["layer"] == 1) & (table["target"] == "zebra")]
    assert zebra["neighbour"].tolist() == ["cat", "dog"] and zebra["k"].tolist() == [0, 1]
    assert zebra["alpha"].to_numpy() == pytest.approx([0.5, 0.5])  # (0.7 + 0.3) / 2
    assert zebra["alpha_std"].to_numpy() == pytest.approx([0.2, 0.2])  # |0.7 - 0.5|
    okapi = table[(table["layer"] == 2) & (table["target"] == "okapi")]
    assert okapi["neighbour"].tolist() == ["dog", "cat"]
    assert okapi["alpha"].to_numpy() == pytest.approx([0.9, 0.1])
    assert okapi["alpha_std"].to_numpy() == pytest.approx([0.0, 0.0])
    assert set(table["neighbour_role"]) == {"seen"} and set(table["n_images"]) == {2}
    assert table.groupby(["layer", "target"])["alpha"].sum().to_numpy() == pytest.approx(1.0)


def test_table_keeps_the_given_targets_and_their_order() -> None:
    table = attention_table(_attention(), NEIGHBOURS, NAMES, ROLES, targets=["okapi", "cat", "okapi"])
    assert table.loc[table["layer"] == 1, "target"].tolist() == ["okapi", "okapi", "cat", "cat"]
    assert table.loc[table["target"] == "cat", "target_role"].unique().tolist() == ["seen"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": ["zebra", "unicorn"]}, r"targets \['unicorn'\] are not among the 4 category names"),
        (
            {"attention": [np.ones((2, 4, 3, 2))]},
            r"attention layer 1 has shape \[2, 4, 3, 2\], expected \[N, C=4",
        ),
        ({"attention": [np.ones((4, 2, 2))]}, r"attention layer 1 has shape \[4, 2, 2\]"),
        ({"attention": []}, "attention has no layer"),
        ({"neighbours": NEIGHBOURS[:3]}, r"neighbours must be \[C=4, K\]"),
        ({"neighbours": NEIGHBOURS + 3}, r"neighbours holds indices outside 0..3"),
        ({"roles": ROLES[:3]}, "roles has 3 entries but names has 4"),
        ({"roles": ["seen"] * 4}, "no category has role 'unseen'; pass targets"),
    ],
)
def test_table_rejects_bad_input(change: dict, message: str) -> None:
    arguments = {"attention": _attention(), "neighbours": NEIGHBOURS, "names": NAMES, "roles": ROLES}
    with pytest.raises(ValueError, match=message):
        attention_table(**{**arguments, **change})


def test_heatmap_has_a_row_per_target_and_names_each_cell(png_bytes) -> None:
    table = attention_table(_attention(), NEIGHBOURS, NAMES, ROLES)
    figure = attention_heatmap(table, layer=2)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["zebra", "okapi"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k=0", "k=1"]
    assert ax.images[0].get_array().shape == (2, 2)
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["cat\n0.50", "dog\n0.50", "dog\n0.90", "cat\n0.10"]
    assert "unseen categories" in ax.get_title() and "layer 2 of 2, 2 images" in ax.get_title()
    assert png_bytes(figure) > 5_000


def test_heatmap_defaults_to_the_last_layer_and_sizes_from_the_counts() -> None:
    rng = np.random.default_rng(0)
    names = [f"category number {i} with a long name" for i in range(30)]
    roles = ["seen"] * 20 + ["unseen"] * 10
    neighbours = rng.integers(0, 20, size=(30, 16))
    attention = [rng.dirichlet(np.ones(16), size=(3, 30, 2)).transpose(0, 1, 3, 2) for _ in range(2)]
    figure = attention_heatmap(attention_table(attention, neighbours, names, roles))
    ax = figure.axes[0]
    assert "layer 2 of 2" in ax.get_title()
    assert len(ax.get_yticklabels()) == 10 and len(ax.texts) == 10 * 16
    assert all(len(t.get_text().split("\n")[0]) <= 14 for t in ax.texts)
    width, height = figure.get_size_inches()
    assert width > 16 and 5 < height < 10


def test_heatmap_names_a_missing_layer_or_column() -> None:
    table = attention_table(_attention(), NEIGHBOURS, NAMES, ROLES)
    with pytest.raises(ValueError, match=r"no layer 3; layers: \[1, 2\]"):
        attention_heatmap(table, layer=3)
    with pytest.raises(ValueError, match=r"lacks columns \['alpha'\]"):
        attention_heatmap(table.drop(columns="alpha"))
    with pytest.raises(ValueError, match="has no row"):
        attention_heatmap(pd.DataFrame(columns=list(ATTENTION_TABLE_COLUMNS)))


def test_shorten_marks_the_cut() -> None:
    assert shorten("okapi", 5) == "okapi" and shorten("hippopotamus", 5) == "hipp…"
