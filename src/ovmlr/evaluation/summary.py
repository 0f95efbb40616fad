"""Supplement A metrics of every evaluated method, the per-category AP table, and their report forms.

Metric semantics are those of :mod:`ovmlr.metrics` (ZSL: unseen columns only; GZSL: all columns). A top-K
value larger than the number of unseen categories has no ZSL meaning (fewer candidates than predictions):
the metrics give NaN for it, the summary ``None`` (strict JSON) and lists it under ``zsl_skipped_ks``,
MLflow does not receive it, and the markdown table shows "—".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.core.vocabulary import Vocabulary
from ovmlr.metrics import average_precision, zsl_gzsl_metrics, zsl_gzsl_retrieval

logger = logging.getLogger(__name__)

TASKS = ("zsl", "gzsl")


def split_ks(ks: Sequence[int], n_unseen: int) -> tuple[list[int], list[int]]:
    """``(ks valid for ZSL, ks skipped for ZSL)``: ZSL needs K <= the number of unseen categories."""
    values = [int(k) for k in ks]
    return [k for k in values if k <= n_unseen], [k for k in values if k > n_unseen]


RETRIEVAL_KS = (1, 5)  # image↔text recall@K reported beside the Supplement A metrics


def split_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    unseen_mask: np.ndarray,
    ks: Sequence[int],
    retrieval_ks: Sequence[int] = (),
) -> dict[str, float]:
    """ZSL / GZSL mAP and P/R/F1@K of a scored split (:func:`ovmlr.metrics.zsl_gzsl_metrics`), plus
    image↔text retrieval recall at ``retrieval_ks`` (:func:`ovmlr.metrics.zsl_gzsl_retrieval`): the metric
    summary every caller uses (training's test metrics, the evaluation, the ablation). NaN stays NaN.

    Shapes:
        scores, labels: [N, C], unseen_mask: [C] -> ``{"zsl/mAP": …, "gzsl/F1@3": …, …}``
    """
    metrics = zsl_gzsl_metrics(scores, labels, unseen_mask, ks=tuple(int(k) for k in ks))
    if retrieval_ks:
        metrics |= zsl_gzsl_retrieval(scores, labels, unseen_mask, ks=tuple(int(k) for k in retrieval_ks))
    return {name: float(value) for name, value in metrics.items()}


def method_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    unseen_mask: np.ndarray,
    ks: Sequence[int],
    retrieval_ks: Sequence[int] = (),
) -> dict[str, float | None]:
    """:func:`split_metrics` for a JSON report: NaN → None."""
    metrics = split_metrics(scores, labels, unseen_mask, ks, retrieval_ks)
    return {name: json_safe(value) for name, value in metrics.items()}


def category_ap_by_name(
    scores: np.ndarray, labels: np.ndarray, names: Sequence[str]
) -> dict[str, float | None]:
    """Every category's AP by name (None: no known positive), as the ablation stores it (Fig. 6)."""
    ap = average_precision(scores, labels)
    return {name: json_safe(value) for name, value in zip(names, ap, strict=True)}


def json_safe(value: float) -> float | None:
    """``None`` for NaN / inf (strict JSON has no NaN), the float otherwise."""
    return float(value) if math.isfinite(value) else None


def category_ap_table(
    scores_by_method: Mapping[str, np.ndarray], labels: np.ndarray, vocabulary: Vocabulary
) -> pd.DataFrame:
    """Per (method, category): AP over the images with a known label, positive / negative / unknown counts.

    Columns: ``method``, ``category_id``, ``name``, ``role``, ``n_positive``, ``n_negative``, ``n_unknown``,
    ``ap`` (NaN when the category has no known positive; such categories are left out of mAP).
    """
    counts = {
        "n_positive": (labels == 1).sum(axis=0),
        "n_negative": (labels == 0).sum(axis=0),
        "n_unknown": (labels == -1).sum(axis=0),
    }
    frames = [
        pd.DataFrame(
            {
                "method": method,
                "category_id": vocabulary.category_ids.astype(np.int64),
                "name": list(vocabulary.names),
                "role": list(vocabulary.roles),
                **{key: value.astype(np.int64) for key, value in counts.items()},
                "ap": average_precision(scores, labels),
            }
        )
        for method, scores in scores_by_method.items()
    ]
    return pd.concat(frames, ignore_index=True)


def mlflow_metrics(summary: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``<method>/<task>/<metric>`` → ``{value, step: 0}`` (undefined values are not logged).

    The catalog's ``MlflowMetricsHistoryDataset`` adds its prefix: ``evaluation.c2srt/zsl/mAP``.
    """
    return {
        f"{method}/{name}": {"value": float(value), "step": 0}
        for method, entry in summary["methods"].items()
        for name, value in entry["metrics"].items()
        if value is not None
    }


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def metric_columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """``(metric key, table header)`` in table order: per task, mAP then P, R, F1 at each K."""
    columns = []
    for task in TASKS:
        columns.append((f"{task}/mAP", f"{task.upper()} mAP"))
        for k in ks:
            columns += [(f"{task}/{m}_at_{k}", f"{task.upper()} {m}@{k}") for m in ("P", "R", "F1")]
    return columns


def retrieval_columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """``(metric key, table header)`` of the retrieval table: per task, image→text then text→image R@K."""
    return [
        (f"{task}/{direction}/R_at_{k}", f"{task.upper()} {arrow} R@{k}")
        for task in TASKS
        for direction, arrow in (("i2t", "image→text"), ("t2i", "text→image"))
        for k in ks
    ]


def _table(methods: Mapping[str, Any], columns: list[tuple[str, str]]) -> list[str]:
    lines = [
        "| method | " + " | ".join(header for _, header in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for entry in methods.values():
        cells = [_cell(entry["metrics"].get(key)) for key, _ in columns]
        lines.append(f"| {entry['label']} | " + " | ".join(cells) + " |")
    return lines


def metrics_markdown(summary: Mapping[str, Any]) -> str:
    """The metrics as a markdown table in percent, like the paper's Tables 1 and 3 (ZSL, then GZSL), and the
    image↔text retrieval recall as a second table when the summary has ``retrieval_ks``."""
    lines = _table(summary["methods"], metric_columns(summary["ks"]))
    if summary.get("retrieval_ks"):
        lines += ["", "Image↔text retrieval (recall@K, %):", ""]
        lines += _table(summary["methods"], retrieval_columns(summary["retrieval_ks"]))
    model = summary["model"]
    notes = [
        f"# Evaluation on the test split: {summary['n_images']} images, {summary['n_categories']} "
        f"categories ({summary['n_unseen']} unseen)",
        "",
        f"Model `{model['name']}@{model['alias']}` ({model.get('mode')}, dataset `{model.get('dataset')}`, "
        f"epoch {model.get('epoch')}, fingerprint `{model.get('fingerprint')}`). Values in percent; "
        "ZSL: unseen categories only, GZSL: seen + unseen.",
    ]
    if summary["zsl_skipped_ks"]:
        skipped = summary["zsl_skipped_ks"]
        notes.append(
            f"ZSL top-K for K = {skipped} is undefined (K > number of unseen categories): shown as —."
        )
    return "\n".join([*notes, "", *lines, ""])
