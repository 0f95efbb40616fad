"""Reports of the multimodal pipeline: the results table as markdown and the robustness curves."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ovmlr.reporting.style import method_colour, new_figure

_LABELS = {
    "late_mean": "late fusion (mean)",
    "late_max": "late fusion (max)",
    "decision": "CSCF: dominant modality only",
    "cscf": "CSCF (dominant + class-similarity refinement)",
    "oracle": "oracle modality choice (upper bound: uses the true labels)",
}


def _percent(value: Any) -> str:
    return "–" if pd.isna(value) else f"{100 * float(value):.2f}"


def _split_markdown(table: pd.DataFrame, zero_shot: bool) -> list[str]:
    origins = sorted(
        c.removeprefix("origin/").removesuffix("/mAP")
        for c in table.columns
        if c.startswith("origin/") and c.endswith("/mAP") and table[c].notna().any()
    )
    counts = {o: int(table[f"origin/{o}/n_categories"].iloc[0]) for o in origins}
    metrics = ["union/mAP", *(["zsl/mAP", "gzsl/mAP"] if zero_shot else [])]
    shares = [c for c in table.columns if c.startswith("dominant:")]
    header = [
        "balancing",
        "method",
        *[m.replace("/", " ") for m in metrics],
        *[f"{o} ({counts[o]})" for o in origins],
        *[f"dominant {c.removeprefix('dominant:')}" for c in shares],
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.to_dict("records"):
        cells = [row["balancing"], _LABELS.get(row["method"], f"{row['method']} alone")]
        cells += [_percent(row[k]) for k in metrics]
        cells += [_percent(row[f"origin/{o}/mAP"]) for o in origins]
        cells += [_percent(row[c]) if row["method"] in ("decision", "cscf") else "" for c in shares]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def results_markdown(table: pd.DataFrame, model: Any) -> str:
    """Markdown: per split, one row per (balancing, method): union / ZSL / GZSL mAP, mAP by category origin
    and, for the CSCF rows, the share of samples by dominant modality (all in %)."""
    lines = [
        f"Multimodal results (%), modalities {list(model.modalities)}; fusion {model.fusion.to_dict()}",
        "",
    ]
    for split in ("test", "val"):
        part = table[table["split"] == split] if "split" in table else table
        if part.empty:
            continue
        title = (
            "Test split"
            if split == "test"
            else "Validation split (seen categories; the fusion was tuned here)"
        )
        lines += [f"**{title}**", "", *_split_markdown(part.dropna(axis=1, how="all"), split == "test"), ""]
    return "\n".join(lines)


def plot_robustness(curves: pd.DataFrame) -> Figure:
    """Union mAP against the corruption level: one panel per (corruption, corrupted modality); a line per
    (balancing, method)."""
    panels = curves[["corruption", "modality"]].drop_duplicates().to_records(index=False).tolist()
    fig = new_figure(4.2 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    series = curves[["balancing", "method"]].drop_duplicates().to_records(index=False).tolist()
    methods = list(curves["method"].unique())
    styles = {b: s for b, s in zip(curves["balancing"].unique(), ("-", "--", ":", "-."), strict=False)}
    for ax, (kind, modality) in zip(axes, panels, strict=True):
        part = curves[(curves["corruption"] == kind) & (curves["modality"] == modality)]
        for balancing, method in series:
            line = part[(part["balancing"] == balancing) & (part["method"] == method)].sort_values("level")
            ax.plot(
                line["level"],
                100 * line["union_mAP"],
                styles.get(balancing, "-"),
                marker="o",
                ms=3,
                color=method_colour(methods.index(method)),
                label=f"{method} [{balancing}]",
            )
        ax.set_title(
            f"{modality}: {'Gaussian noise (× feature std)' if kind == 'noise' else 'dropped fraction'}"
        )
        ax.set_xlabel("level")
        ax.set_ylabel("union mAP (%)")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=6, loc="best")
    fig.suptitle("Robustness of multimodal fusion to a corrupted modality (test split)")
    return fig
