"""Figures of the ablation runner: a hyper-parameter sweep as line plots (the paper's Fig. 4, 5, 9), the
distribution of each category's best value (Fig. 6a), and a bar chart of a table run."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import new_figure

TASKS = (("zsl", "ZSL"), ("gzsl", "GZSL"))


def sweep_curve(results: pd.DataFrame, metric: str = "mAP") -> pd.DataFrame:
    """Mean and std over seeds of the test ZSL/GZSL ``metric`` per swept value (in %).

    Args:
        results: Ablation results with ``sweep_value`` and ``test/<task>/<metric>`` columns.

    Returns:
        Columns ``value``, ``task``, ``mean``, ``std``, ``seeds``, sorted by task then value.

    Raises:
        ValueError: If a column is missing or no row has a swept value.
    """
    needed = ["sweep_value"] + [f"test/{task}/{metric}" for task, _ in TASKS]
    missing = [c for c in needed if c not in results.columns]
    if missing:
        raise ValueError(f"ablation results lack column(s) {missing}")
    swept = results.dropna(subset=["sweep_value"])
    if swept.empty:
        raise ValueError("no ablation result has a swept value: run a sweep (ablation.run=<sweep name>)")
    records = []
    for task, _ in TASKS:
        for value, group in swept.groupby("sweep_value", sort=True):
            values = group[f"test/{task}/{metric}"].dropna() * 100
            records.append(
                {
                    "value": float(value),
                    "task": task,
                    "mean": float(values.mean()) if len(values) else float("nan"),
                    "std": float(values.std(ddof=0)) if len(values) else float("nan"),
                    "seeds": len(values),
                }
            )
    return pd.DataFrame.from_records(records)


def best_value_per_category(results: pd.DataFrame, roles: dict[str, str] | None = None) -> pd.DataFrame:
    """Each category's best swept value by its test AP (mean over seeds; the smallest value on ties), Fig. 6a.

    Args:
        results: Ablation results with ``sweep_value`` and ``test/category_ap`` (JSON ``{name: AP}``).
        roles: ``{name: role}`` to label the categories (``seen`` / ``unseen``).

    Returns:
        Columns ``category``, ``role``, ``best_value``, ``best_ap`` (categories whose AP is undefined at
        every value, i.e. no test positive, are left out).
    """
    if "test/category_ap" not in results.columns:
        raise ValueError("ablation results lack test/category_ap (stored since the sweep runner records it)")
    swept = results.dropna(subset=["sweep_value", "test/category_ap"])
    rows = []
    for value, ap_json in zip(swept["sweep_value"], swept["test/category_ap"], strict=True):
        for name, ap in json.loads(ap_json).items():
            if ap is not None and not np.isnan(ap):
                rows.append({"category": name, "value": float(value), "ap": float(ap)})
    if not rows:
        return pd.DataFrame(columns=["category", "role", "best_value", "best_ap"])
    mean = pd.DataFrame(rows).groupby(["category", "value"], as_index=False)["ap"].mean()
    mean = mean.sort_values(["category", "ap", "value"], ascending=[True, False, True])
    best = mean.drop_duplicates("category").rename(columns={"value": "best_value", "ap": "best_ap"})
    best.insert(1, "role", best["category"].map(roles or {}).fillna(""))
    return best.reset_index(drop=True)


def plot_sweep(curve: pd.DataFrame, label: str, figure_name: str, best: pd.DataFrame | None = None) -> Figure:
    """ZSL and GZSL test mAP against the swept value (error bars: std over seeds), and with ``best`` a
    histogram of each category's best value (Fig. 6a)."""
    panels = 3 if best is not None and len(best) else 2
    fig = new_figure(4.2 * panels, 3.6)
    axes = fig.subplots(1, panels)
    for ax, (task, title) in zip(axes, TASKS, strict=False):
        part = curve[curve["task"] == task]
        ax.errorbar(part["value"], part["mean"], yerr=part["std"].fillna(0), marker="o", capsize=3)
        if part["value"].min() > 0 and part["value"].max() >= 8 * part["value"].min():
            ax.set_xscale("log", base=2)  # k = 1, 2, 4, ... evenly spaced
        ax.set_xlabel(label)
        ax.set_ylabel(f"{title} test mAP (%)")
        ax.set_title(f"{figure_name} ({title})")
        ax.grid(alpha=0.3)
    if panels == 3:
        ax = axes[2]
        values = sorted(curve["value"].unique())
        x = np.arange(len(values))
        for offset, (role, colour) in zip(
            (-0.2, 0.2), (("unseen", "tab:orange"), ("seen", "tab:blue")), strict=True
        ):
            counts = best[best["role"] == role]["best_value"].value_counts()
            heights = [int(counts.get(v, 0)) for v in values]
            ax.bar(x + offset, heights, width=0.38, label=f"{role} ({sum(heights)})", color=colour)
        ax.set_xticks(x, [str(_short(v)) for v in values])
        ax.set_xlabel(label)
        ax.set_ylabel("categories")
        ax.set_title("Each category's best value")
        ax.legend()
    return fig


def category_ap_gain(results: pd.DataFrame, with_row: str, without_row: str) -> pd.DataFrame:
    """Per-category test AP of variant ``with_row`` minus ``without_row`` (means over seeds), Fig. 6b.

    Returns:
        Columns ``category``, ``ap_with``, ``ap_without``, ``gain``, sorted by gain (descending); empty when
        either variant has no stored per-category AP.
    """
    means = {}
    for name in (with_row, without_row):
        rows = results[(results["variant"] == name) & results.get("test/category_ap", pd.Series()).notna()]
        if rows.empty:
            return pd.DataFrame(columns=["category", "ap_with", "ap_without", "gain"])
        frame = pd.DataFrame([json.loads(a) for a in rows["test/category_ap"]]).astype(float)
        means[name] = frame.mean(axis=0)
    table = pd.DataFrame({"ap_with": means[with_row], "ap_without": means[without_row]}).dropna()
    table["gain"] = table["ap_with"] - table["ap_without"]
    table = table.rename_axis("category").reset_index()
    return table.sort_values(["gain", "category"], ascending=[False, True], ignore_index=True)


def plot_table_run(
    summary: pd.DataFrame, metric: str = "mAP", gain: pd.DataFrame | None = None, roles: dict | None = None
) -> Figure:
    """Horizontal bars of each variant's ZSL and GZSL test ``metric`` (the table run's figure), and with
    ``gain`` (:func:`category_ap_gain`) a second panel: per-category AP change, unseen categories in blue."""
    rows = summary.drop_duplicates(["table", "variant"])[["table", "variant"]]
    labels = [f"{t} | {v}" for t, v in zip(rows["table"], rows["variant"], strict=True)]
    with_gain = gain is not None and len(gain) > 0
    fig = new_figure(16 if with_gain else 10, 0.5 * len(labels) + 1.5)
    axes = fig.subplots(1, 2 if with_gain else 1, squeeze=False)[0]
    ax = axes[0]
    if with_gain:
        colours = ["tab:blue" if (roles or {}).get(c) == "unseen" else "tab:gray" for c in gain["category"]]
        axes[1].bar(np.arange(len(gain)), gain["gain"] * 100, color=colours, width=1.0)
        axes[1].axhline(0, color="black", linewidth=0.5)
        axes[1].set_xlabel("categories, sorted (blue: unseen)")
        axes[1].set_ylabel("test AP change (points)")
        axes[1].set_title(str(gain.attrs.get("title", "Per-category AP change (Fig. 6b)")))
    y = np.arange(len(labels))
    for offset, (_, title) in zip((-0.2, 0.2), TASKS, strict=True):
        part = summary[summary["task"] == title].set_index(["table", "variant"])
        values = [
            _cell_mean(part.loc[(t, v), metric]) for t, v in zip(rows["table"], rows["variant"], strict=True)
        ]
        ax.barh(y + offset, values, height=0.38, label=title)
    ax.set_yticks(y, [_truncate(label, 60) for label in labels])
    ax.invert_yaxis()
    ax.set_xlabel(f"test {metric} (%)")
    ax.legend()
    return fig


def _cell_mean(cell: str) -> float:
    """``"12.3 ± 0.4"`` or ``"12.3"`` → 12.3; ``"n/a"`` → NaN."""
    try:
        return float(str(cell).split("±")[0])
    except ValueError:
        return float("nan")


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def sweep_markdown(curve: pd.DataFrame, label: str, columns: Sequence[str] = ("zsl", "gzsl")) -> str:
    """The sweep as a markdown table: one row per value, ZSL and GZSL mean ± std test mAP (%, two decimals:
    a sweep's points often differ by tenths)."""
    lines = [f"| {label} | " + " | ".join(f"{c.upper()} mAP" for c in columns) + " | seeds |"]
    lines.append("| --- " * (len(columns) + 2) + "|")
    for value in sorted(curve["value"].unique()):
        cells = []
        for task in columns:
            row = curve[(curve["task"] == task) & (curve["value"] == value)].iloc[0]
            cells.append(f"{row['mean']:.2f}" + (f" ± {row['std']:.2f}" if row["seeds"] > 1 else ""))
        seeds = int(curve[curve["value"] == value]["seeds"].max())
        lines.append(f"| {_short(value)} | " + " | ".join(cells) + f" | {seeds} |")
    return "\n".join(lines) + "\n"
