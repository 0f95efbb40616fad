"""Evaluation of multimodal recognition over the union of the category sets, split by category origin.

Metrics of one method's scores ``[N, C]`` (fractions; categories without a test positive are left out of
each mean):

* ``union/mAP``: the seen categories (the union of the modalities' sets);
* ``zsl/*`` and ``gzsl/*``: the project's ZSL / GZSL metrics (:func:`ovmlr.metrics.zsl_gzsl_metrics`);
* ``origin/<origin>/mAP``: mAP over the categories of one origin — ``only:<modality>`` (in one modality's set
  only), ``shared`` (in two or more) and ``unseen`` (in none).

Robustness (CAL's noise tests): each modality's test features corrupted by Gaussian noise of standard
deviation ``level × σ_m`` (σ_m: the modality's mean per-dimension standard deviation on the test split),
and each modality dropped for a fraction of the samples (1.0: dropped entirely), with a fixed seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ovmlr.metrics import mean_average_precision, zsl_gzsl_metrics

from .data import CategorySets, ModalityBatch
from .trained import TrainedCSCF


def map_or_nan(scores: np.ndarray, labels: np.ndarray) -> float:
    """mAP over the categories with a positive; NaN when none has one."""
    has_positive = (labels == 1).any(axis=0)
    if not has_positive.any():
        return float("nan")
    return mean_average_precision(scores[:, has_positive], labels[:, has_positive])


def origin_metrics(
    scores: np.ndarray, labels: np.ndarray, sets: CategorySets, ks: Sequence[int], zero_shot: bool = True
) -> dict[str, float]:
    """The metrics of the module docstring for one method; ``zero_shot=False`` (a split whose unseen labels
    are unknown, e.g. validation) keeps only the seen categories' metrics."""
    out = {"union/mAP": map_or_nan(scores[:, ~sets.unseen], labels[:, ~sets.unseen])}
    if zero_shot:
        out |= zsl_gzsl_metrics(scores, labels, sets.unseen, ks)
    origin = sets.origin()
    for name in sorted(set(origin) - (set() if zero_shot else {"unseen"})):
        columns = origin == name
        out[f"origin/{name}/mAP"] = map_or_nan(scores[:, columns], labels[:, columns])
        out[f"origin/{name}/n_categories"] = float(columns.sum())
    return out


def results_table(
    method_scores: Mapping[str, np.ndarray],
    labels: np.ndarray,
    sets: CategorySets,
    ks: Sequence[int],
    zero_shot: bool = True,
) -> pd.DataFrame:
    """One row per method, one column per metric."""
    rows = [
        {"method": method} | origin_metrics(s, labels, sets, ks, zero_shot)
        for method, s in method_scores.items()
    ]
    return pd.DataFrame(rows)


def corrupt(batch: ModalityBatch, modality: str, level: float, drop: float, seed: int) -> ModalityBatch:
    """``batch`` with Gaussian noise (``level`` × the modality's feature std) and/or a dropped fraction."""
    rng = np.random.default_rng(seed)
    out = batch
    if level > 0:
        feats = batch.features[modality]
        sigma = (
            float(feats[batch.present[modality]].std(axis=0).mean()) if batch.present[modality].any() else 0.0
        )
        noisy = feats + rng.normal(0.0, level * sigma, feats.shape).astype(np.float32)
        out = out.replace(
            modality, features=np.where(batch.present[modality][:, None], noisy, 0.0).astype(np.float32)
        )
    if drop > 0:
        keep = rng.random(len(batch)) >= drop
        out = out.replace(modality, present=batch.present[modality] & keep)
    return out


def robustness_curves(
    models: Mapping[str, TrainedCSCF],
    batch: ModalityBatch,
    labels: np.ndarray,
    noise_levels: Sequence[float],
    drop_fractions: Sequence[float],
    methods: Sequence[str],
    seed: int,
) -> pd.DataFrame:
    """Long table: ``balancing``, ``method``, ``modality``, ``corruption`` (noise | drop), ``level``,
    union and
    GZSL mAP, for every model (by balancing), corrupted modality and level."""
    rows = []
    for balancing, model in models.items():
        for modality in model.modalities:
            for kind, levels in (("noise", noise_levels), ("drop", drop_fractions)):
                for level in levels:
                    corrupted = corrupt(
                        batch,
                        modality,
                        level if kind == "noise" else 0.0,
                        level if kind == "drop" else 0.0,
                        seed,
                    )
                    scores = model.modality_scores(corrupted)
                    for method in methods:
                        fused = model.score(corrupted, method, scores)
                        rows.append(
                            {
                                "balancing": balancing,
                                "method": method,
                                "modality": modality,
                                "corruption": kind,
                                "level": float(level),
                                "union_mAP": map_or_nan(
                                    fused[:, ~model.sets.unseen], labels[:, ~model.sets.unseen]
                                ),
                                "gzsl_mAP": map_or_nan(fused, labels),
                            }
                        )
    return pd.DataFrame(rows)
