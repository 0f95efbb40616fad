"""Per-category AP of two methods side by side, unseen categories highlighted (like the paper's Fig. 6b)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ovmlr.reporting.style import MAIN_COLOUR, REFERENCE_COLOUR, UNSEEN_COLOUR, new_figure

AP_TABLE_COLUMNS = ("method", "category_id", "name", "role", "n_positive", "ap")


def paired_ap(ap_table: pd.DataFrame, main: str, reference: str) -> pd.DataFrame:
    """One row per category with a defined AP: ``name``, ``role``, ``main``, ``reference``, ``delta``.

    Raises:
        ValueError: If a column is missing or a method has no row.
    """
    missing = sorted(set(AP_TABLE_COLUMNS) - set(ap_table.columns))
    if missing:
        raise ValueError(f"per-category AP table lacks columns {missing}")
    for method in (main, reference):
        if not (ap_table["method"] == method).any():
            raise ValueError(f"per-category AP table has no row for method {method!r}")
    wide = ap_table.pivot(index=["category_id", "name", "role"], columns="method", values="ap")
    paired = wide[[main, reference]].rename(columns={main: "main", reference: "reference"}).reset_index()
    paired = paired.dropna(subset=["main", "reference"])
    return paired.assign(delta=paired["main"] - paired["reference"]).sort_values("category_id")


def largest_changes(paired: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The ``limit`` categories with the largest |AP change| (all if fewer), by change, largest first."""
    order = paired["delta"].abs().sort_values(ascending=False, kind="stable").index
    kept = paired.loc[order[:limit]] if len(paired) > limit else paired
    return kept.sort_values("delta", ascending=False, kind="stable")


def plot_category_ap(
    ap_table: pd.DataFrame,
    main: str,
    reference: str,
    method_labels: Mapping[str, str],
    max_categories: int = 40,
) -> Figure:
    """Bars of per-category AP for ``main`` and ``reference``; unseen categories on a blue background.

    Args:
        ap_table: Per-category AP (columns ``method``, ``category_id``, ``name``, ``role``, ``n_positive``,
            ``ap``; NaN AP = no positive, left out).
        main: The evaluated method.
        reference: The method it is compared with (e.g. the zero-shot backbone).
        method_labels: Method → display name.
        max_categories: Most categories shown; beyond it, those whose AP changes most.

    Returns:
        The figure.
    """
    paired = paired_ap(ap_table, main, reference)
    shown = largest_changes(paired, max_categories)
    x = np.arange(len(shown))
    figure = new_figure(max(7.0, 0.38 * len(shown) + 2.5), 5.0)
    ax = figure.subplots()
    for position, role in zip(x, shown["role"], strict=True):
        if role == "unseen":
            ax.axvspan(position - 0.5, position + 0.5, color=UNSEEN_COLOUR, alpha=0.12, linewidth=0)
    ax.bar(x - 0.2, shown["main"], 0.4, color=MAIN_COLOUR, label=method_labels.get(main, main))
    ax.bar(
        x + 0.2,
        shown["reference"],
        0.4,
        color=REFERENCE_COLOUR,
        label=method_labels.get(reference, reference),
    )
    ax.set_xticks(x, shown["name"], rotation=60, ha="right", fontsize=8)
    for tick, role in zip(ax.get_xticklabels(), shown["role"], strict=True):
        tick.set_color(UNSEEN_COLOUR if role == "unseen" else "black")
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color=UNSEEN_COLOUR, alpha=0.25, label="unseen category"))
    ax.legend(handles=handles, fontsize=8)
    ax.set(ylim=(0, 1.02), ylabel="AP", xlim=(-0.6, len(shown) - 0.4))
    left_out = len(ap_table["category_id"].unique()) - len(paired)
    ax.set_title(
        f"Per-category AP, {len(shown)} of {len(paired)} categories, by AP change; "
        f"{left_out} without a positive left out",
        fontsize=9,
    )
    return figure
