"""Per-category AP bars of two methods, unseen categories highlighted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ovmlr.reporting.category_ap import largest_changes, paired_ap, plot_category_ap
from ovmlr.reporting.style import UNSEEN_COLOUR


def _table() -> pd.DataFrame:
    names, roles = ["a", "b", "c", "d"], ["seen", "seen", "unseen", "unseen"]
    main, reference = [0.5, 0.9, 0.4, np.nan], [0.6, 0.3, 0.1, np.nan]
    rows = [
        {"method": m, "category_id": i, "name": n, "role": r, "n_positive": 0 if np.isnan(v) else 3, "ap": v}
        for m, values in (("c2srt", main), ("zero_shot", reference))
        for i, (n, r, v) in enumerate(zip(names, roles, values, strict=True))
    ]
    return pd.DataFrame(rows)


def test_paired_ap_drops_undefined_and_computes_delta() -> None:
    paired = paired_ap(_table(), "c2srt", "zero_shot")
    assert paired["name"].tolist() == ["a", "b", "c"]
    assert paired["delta"].to_numpy() == pytest.approx([-0.1, 0.6, 0.3])


def test_largest_changes_orders_by_change() -> None:
    paired = paired_ap(_table(), "c2srt", "zero_shot")
    assert largest_changes(paired, 2)["name"].tolist() == ["b", "c"]
    assert largest_changes(paired, 10)["name"].tolist() == ["b", "c", "a"]


def test_plot_highlights_unseen_categories(png_bytes) -> None:
    figure = plot_category_ap(_table(), "c2srt", "zero_shot", {"c2srt": "C²SRT"}, max_categories=40)
    ax = figure.axes[0]
    assert len(ax.containers) == 2 and [len(c) for c in ax.containers] == [3, 3]
    colours = {t.get_text(): t.get_color() for t in ax.get_xticklabels()}
    assert colours == {"b": "black", "c": UNSEEN_COLOUR, "a": "black"}
    assert "1 without a positive left out" in ax.get_title()
    assert png_bytes(figure) > 5_000


def test_plot_names_a_missing_method() -> None:
    with pytest.raises(ValueError, match="no row for method 'mkt'"):
        plot_category_ap(_table(), "c2srt", "mkt", {})
    with pytest.raises(ValueError, match=r"lacks columns \['ap'\]"):
        plot_category_ap(_table().drop(columns="ap"), "c2srt", "zero_shot", {})
