"""Positives per category per split, and its plot."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .tables import SPLITS

logger = logging.getLogger(__name__)
NO_TEST_POSITIVE = "no positive test image: cannot be evaluated"
NO_TRAIN_POSITIVE = "no positive train image: cannot be learnt"


def count_positives(labels: pd.DataFrame, image_manifest: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``[C, 3]`` positives per category (rows, ``names`` order) and split (``train``/``val``/``test``).

    Unseen categories are counted on train images too: they are present in the pixels, only hidden.
    """
    split_of = image_manifest.set_index("image_id")["split"]
    splits = labels["image_id"].map(split_of)
    if splits.isna().any():
        raise ValueError(
            f"labels: image {labels['image_id'][splits.isna()].iloc[0]!r} is not in image_manifest"
        )
    positive = labels[names].to_numpy() == 1
    counts = {split: positive[(splits == split).to_numpy()].sum(axis=0) for split in SPLITS}
    return pd.DataFrame(counts, index=names).astype("int64")


def summarise(category_split: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """``category_id``, ``name``, ``role``, ``<split>_positives``, ``warning``; warnings are also logged."""
    summary = category_split[["category_id", "name", "role"]].reset_index(drop=True)
    for split in SPLITS:
        summary[f"{split}_positives"] = counts.loc[summary["name"], split].to_numpy()
    warning = np.full(len(summary), "", dtype=object)
    warning[(summary["role"] == "unseen") & (summary["test_positives"] == 0)] = NO_TEST_POSITIVE
    warning[(summary["role"] == "seen") & (summary["train_positives"] == 0)] = NO_TRAIN_POSITIVE
    summary["warning"] = pd.Series(warning, dtype="str")
    for row in summary[summary["warning"] != ""].itertuples():
        logger.warning("Category %r (%s): %s", row.name, row.role, row.warning)
    return summary


def plot_summary(summary: pd.DataFrame, max_bars: int) -> Figure:
    """Grouped bars per category (up to ``max_bars`` categories), else sorted counts per role (log scale)."""
    figure = Figure(figsize=(max(6.0, min(0.5 * len(summary), 16.0)), 4.5), layout="constrained")
    axes = figure.add_subplot()
    if len(summary) <= max_bars:
        x = np.arange(len(summary))
        for offset, split in zip((-0.27, 0.0, 0.27), SPLITS, strict=True):
            axes.bar(x + offset, summary[f"{split}_positives"], width=0.27, label=split)
        axes.set_xticks(
            x,
            [f"{n}*" if r == "unseen" else n for n, r in zip(summary["name"], summary["role"], strict=True)],
        )
        axes.tick_params(axis="x", labelrotation=45)
        axes.set_xlabel("category (* = unseen)")
    else:
        for role in ("seen", "unseen"):
            for split in SPLITS:
                counts = np.sort(summary.loc[summary["role"] == role, f"{split}_positives"].to_numpy())[::-1]
                axes.plot(np.arange(1, len(counts) + 1), np.maximum(counts, 0.5), label=f"{role} / {split}")
        axes.set_yscale("log")
        axes.set_xlabel("category rank")
    axes.set_ylabel("positive images")
    axes.set_title("Positives per category and split")
    figure.legend(loc="outside right upper")
    return figure
