"""Choosing decision thresholds on validation scores: the F1-optimal point or a target precision.

A label is predicted for an image when its score is at or above the threshold. For one label's scores ``s``
and labels ``y`` over N images, every distinct score is a candidate threshold ``t``; with
``TP(t) = #{s >= t, y = 1}``, ``FP(t) = #{s >= t, y = 0}`` and ``P = #{y = 1}``:

.. math::

    \\mathrm{prec}(t) = \\frac{TP}{TP + FP}, \\quad \\mathrm{rec}(t) = \\frac{TP}{P}, \\quad
    F_1(t) = \\frac{2\\,TP}{TP + FP + P}

``f1`` takes the ``t`` of the largest :math:`F_1` (the highest such ``t`` on ties); ``precision`` takes the
lowest ``t`` whose precision reaches the target (the most recall at that precision). A label with no
positive has no threshold (``None``): the caller decides what it gets, and says so. Labels are ``1`` / ``0``
/ ``-1``; an unknown pair (``-1``) is left out, as the metrics leave it out.
"""

from __future__ import annotations

import math

import numpy as np

from ovmlr.core.thresholds import LabelThreshold, ThresholdRule


def _known(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flattened scores and boolean labels of the known pairs (label ``-1`` left out)."""
    scores, labels = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores for {labels.size} labels")
    known = labels >= 0
    return scores[known], labels[known] == 1


def threshold_curve(scores: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate thresholds (distinct scores, highest first) with TP, FP, precision, recall and F1 at each.

    Shapes:
        scores, labels: [N] -> arrays [T] (T distinct scores)

    Raises:
        ValueError: Non-finite scores, or scores and labels of different lengths.
    """
    scores, labels = _known(scores, labels)
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are not finite: no threshold fits them")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[s[1:] != s[:-1], True]  # tied scores are one candidate: all above it, or none
    tp, fp = np.cumsum(y)[last].astype(np.float64), np.cumsum(~y)[last].astype(np.float64)
    positives = float(y.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / positives
    return {
        "threshold": s[last],
        "tp": tp,
        "fp": fp,
        "precision": tp / (tp + fp),
        "recall": recall,
        "f1": 2 * tp / (tp + fp + positives),
    }


def fit_threshold(
    scores: np.ndarray, labels: np.ndarray, rule: ThresholdRule, source: str = "val"
) -> LabelThreshold:
    """The threshold ``rule`` chooses on one label's (or a pooled group's) scores.

    ``precision`` when no threshold reaches the target: the most precise one (the most recall among equals),
    with ``note`` saying the target was not reached.

    Shapes:
        scores, labels: [N] (or any shape, flattened together)
    """
    curve = threshold_curve(scores, labels)
    positives = int((np.asarray(labels) == 1).sum())
    if positives == 0:
        return LabelThreshold(None, math.nan, math.nan, math.nan, 0, source, "no positive in the data")
    note = ""
    if rule.rule == "f1":
        i = int(np.argmax(curve["f1"]))  # the first (highest threshold) of the ties
    else:
        reached = np.flatnonzero(curve["precision"] >= rule.target_precision)
        if len(reached):
            best = curve["recall"][reached].max()
            i = int(reached[curve["recall"][reached] == best][0])
        else:
            top = curve["precision"].max()
            i = int(np.flatnonzero(curve["precision"] == top)[-1])
            note = f"target precision {rule.target_precision:g} not reached (best {top:.3f})"
    pick = {k: float(v[i]) for k, v in curve.items()}
    return LabelThreshold(
        pick["threshold"], pick["precision"], pick["recall"], pick["f1"], positives, source, note
    )


def fit_label_thresholds(
    scores: np.ndarray, labels: np.ndarray, names: tuple[str, ...], rule: ThresholdRule, source: str = "val"
) -> dict[str, LabelThreshold]:
    """One threshold per label (column).

    Shapes:
        scores, labels: [N, C], names: C -> {name: threshold}
    """
    if scores.shape != labels.shape or scores.shape[1] != len(names):
        raise ValueError(f"scores {scores.shape}, labels {labels.shape} and {len(names)} names disagree")
    return {name: fit_threshold(scores[:, j], labels[:, j], rule, source) for j, name in enumerate(names)}


def reliability_bins(scores: np.ndarray, labels: np.ndarray, bins: int) -> list[dict[str, float]]:
    """The observed positive rate in equal-width score bins (empty bins left out): how often a score of a
    given size is a true tag.

    Shapes:
        scores, labels: any shape, flattened together -> up to ``bins`` rows
    """
    s, y = _known(scores, labels)
    if s.size == 0:
        return []
    edges = np.linspace(s.min(), s.max(), bins + 1) if s.max() > s.min() else np.array([s.min(), s.max()])
    which = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "lower": float(edges[b]),
                    "upper": float(edges[b + 1]),
                    "count": int(inside.sum()),
                    "mean_score": float(s[inside].mean()),
                    "positive_rate": float(y[inside].mean()),
                }
            )
    return rows
