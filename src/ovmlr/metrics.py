"""Multi-label ranking metrics of C²SRT (Supplement A), computed as the BiAM / MKT evaluation code does.

Labels follow the ``labels`` contract: ``1`` positive, ``0`` negative, ``-1`` unknown. Scores are any real
numbers, higher meaning "more likely present". Arrays are ``[N, C]`` (N images, C categories); numpy arrays
and CPU torch tensors are accepted.

* **AP** (Eq. 13) of category c is computed over the images whose label for c is known (``-1`` is dropped):
  the mean, over the positives, of the precision at the rank of each positive. **Ties** are handled as
  scikit-learn's ``average_precision_score`` does: images with equal scores form one block and every
  positive of the block gets the precision measured after the whole block. The result therefore does not
  depend on the order of the images (MKT's ``torch.sort`` leaves it to the sort). Without ties this is
  exactly Eq. (13).
* **mAP** (Eq. 14) is the mean of AP over the categories that have at least one known positive. A category
  without a positive has an undefined AP (``NaN`` from :func:`average_precision`); it is *excluded* from the
  mean and counted (``n_without_positive``). MKT instead adds 0 for such a category (``compute_AP``); on
  NUS-WIDE's test split every category has a positive, so both agree there.
* **Top-K P / R / F1** (Eq. 15-16, "overall" mode of MKT's ``compute_F1``): in every image the K highest
  scores are the predictions; P = true positives / (N·K), R = true positives / known positives, pooled over
  all images and categories. As in MKT, every category is a candidate, so a prediction on an unknown label
  counts as a prediction that is not a true positive. Ties at the K-th score go to the lower category index.
  (Eq. 15 as printed has ``R = Σ N^P / Σ N``; recall is ``Σ N^TP / Σ N``, which is what MKT computes.)

Images are never looped over in Python: AP does one sort + binary search per category (numpy), top-K uses
``np.partition`` on chunks of images. NUS-WIDE's 107,859 × 1,006 test matrix takes a few seconds
(``benchmarks/bench_metrics.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

_CHUNK_ELEMENTS = 1 << 23  # elements of [N, C] processed at once (~8M → a few hundred MB of temporaries)


def _as_arrays(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``scores`` / ``labels``; return them as floating / ``int8`` numpy arrays [N, C]."""
    if hasattr(scores, "detach"):  # torch tensor; half / bfloat16 have no numpy dtype
        scores = scores.detach().cpu()
        scores = scores.double() if scores.dtype in (torch.float16, torch.bfloat16) else scores
    scores_np = np.asarray(scores)
    if not np.issubdtype(scores_np.dtype, np.floating):
        scores_np = scores_np.astype(np.float64)
    labels_np = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if scores_np.ndim != 2 or scores_np.shape != labels_np.shape:
        raise ValueError(
            f"scores and labels must both be [N, C] with the same shape, got {scores_np.shape} and "
            f"{labels_np.shape}"
        )
    if not np.isfinite(scores_np).all():
        bad = np.argwhere(~np.isfinite(scores_np))[0]
        raise ValueError(f"scores must be finite; scores[{bad[0]}, {bad[1]}] = {scores_np[tuple(bad)]}")
    invalid = ~np.isin(labels_np, (-1, 0, 1))
    if invalid.any():
        bad = np.argwhere(invalid)[0]
        raise ValueError(
            f"labels must be 1 (positive), 0 (negative) or -1 (unknown); "
            f"labels[{bad[0]}, {bad[1]}] = {labels_np[tuple(bad)]}"
        )
    return scores_np, labels_np.astype(np.int8)


def _average_precision_one(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one category ([N] scores and labels); NaN without a known positive.

    For each positive p, precision = #positives scoring >= s_p / #known images scoring >= s_p, which is the
    precision after the whole tie block of p (scikit-learn's convention), found with two sorts and binary
    searches instead of a full ranking.
    """
    positive = scores[labels == 1]
    if positive.size == 0:
        return float("nan")
    known_sorted = np.sort(scores[labels >= 0])
    positive_sorted = np.sort(positive)
    n_known_at_or_above = known_sorted.size - np.searchsorted(known_sorted, positive, side="left")
    n_positive_at_or_above = positive.size - np.searchsorted(positive_sorted, positive, side="left")
    return float(np.mean(n_positive_at_or_above / n_known_at_or_above))


def average_precision(scores: Any, labels: Any) -> np.ndarray:
    """Average precision of every category, Eq. (13), over the images whose label is known.

    Args:
        scores: Prediction scores, higher = more likely present.
        labels: ``1`` positive, ``0`` negative, ``-1`` unknown (excluded).

    Returns:
        AP per category (float64); ``NaN`` for a category without a known positive.

    Shapes:
        scores, labels: [N, C] → [C]
    """
    return _average_precision_checked(*_as_arrays(scores, labels))


def _average_precision_checked(scores_np: np.ndarray, labels_np: np.ndarray) -> np.ndarray:
    """:func:`average_precision` on validated arrays, chunked over categories."""
    n_images, n_categories = scores_np.shape
    step = max(1, _CHUNK_ELEMENTS // max(n_images, 1))
    out = np.empty(n_categories, dtype=np.float64)
    for start in range(0, n_categories, step):
        cols = slice(start, start + step)
        scores_t = np.ascontiguousarray(scores_np[:, cols].T)  # [c, N]: one category per row
        labels_t = np.ascontiguousarray(labels_np[:, cols].T)
        out[cols] = [_average_precision_one(s, l) for s, l in zip(scores_t, labels_t, strict=True)]
    return out


def mean_average_precision(scores: Any, labels: Any) -> float:
    """mAP, Eq. (14): mean AP over the categories with at least one known positive.

    Categories without a positive are excluded from the mean (and logged); use
    :func:`average_precision` to see which.

    Args:
        scores: Prediction scores [N, C].
        labels: ``1`` / ``0`` / ``-1`` labels [N, C].

    Returns:
        mAP in [0, 1].

    Raises:
        ValueError: If no category has a known positive (mAP is undefined).
    """
    ap = average_precision(scores, labels)
    defined = ~np.isnan(ap)
    if not defined.any():
        raise ValueError(f"mAP is undefined: none of the {ap.size} categories has a known positive label")
    if not defined.all():
        logger.info("mAP: %d of %d categories have no positive and are excluded", (~defined).sum(), ap.size)
    return float(ap[defined].mean())


def _top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean [N, C] mask of the k highest scores per row; ties at the k-th value go to lower indices."""
    n_categories = scores.shape[1]
    kth = np.partition(scores, n_categories - k, axis=1)[:, n_categories - k, None]
    selected = scores >= kth
    crowded = np.flatnonzero(selected.sum(axis=1) > k)  # rows where ties at the k-th value overflow
    if crowded.size:
        rows, row_kth = scores[crowded], kth[crowded]
        tied = rows == row_kth
        free_slots = k - (rows > row_kth).sum(axis=1, keepdims=True)
        selected[crowded] = (rows > row_kth) | (tied & (np.cumsum(tied, axis=1) <= free_slots))
    return selected


def precision_recall_f1_at_k(scores: Any, labels: Any, k: int) -> tuple[float, float, float]:
    """Overall top-K precision, recall and F1, Eq. (15)-(16).

    Args:
        scores: Prediction scores [N, C].
        labels: ``1`` / ``0`` / ``-1`` labels [N, C].
        k: Predictions per image (1 <= k <= C).

    Returns:
        ``(precision, recall, f1)`` in [0, 1]; recall and F1 are ``NaN`` when there is no known positive,
        F1 is 0 when precision and recall are both 0.

    Raises:
        ValueError: If ``k`` is out of range or the inputs are malformed.
    """
    return _precision_recall_f1_checked(*_as_arrays(scores, labels), k)


def _precision_recall_f1_checked(
    scores_np: np.ndarray, labels_np: np.ndarray, k: int
) -> tuple[float, float, float]:
    """:func:`precision_recall_f1_at_k` on validated arrays, chunked over images."""
    n_images, n_categories = scores_np.shape
    if not 1 <= k <= n_categories:
        raise ValueError(f"k must be in [1, {n_categories}] (the number of categories), got {k}")
    if n_images == 0:
        raise ValueError("top-K metrics need at least one image, got an empty score matrix")
    step = max(1, _CHUNK_ELEMENTS // n_categories)
    true_pos = 0
    for start in range(0, n_images, step):
        rows = slice(start, start + step)
        true_pos += int((_top_k_mask(scores_np[rows], k) & (labels_np[rows] == 1)).sum())
    n_positive = int((labels_np == 1).sum())
    precision = true_pos / (n_images * k)
    if n_positive == 0:
        logger.warning("top-%d recall is undefined: no known positive label among %d images", k, n_images)
        return precision, float("nan"), float("nan")
    recall = true_pos / n_positive
    f1 = 2 * precision * recall / (precision + recall) if true_pos else 0.0
    return precision, recall, f1


def _task_metrics(task: str, scores: np.ndarray, labels: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """mAP, top-K P/R/F1 and the count of categories without a positive, keys prefixed with ``task/``."""
    ap = _average_precision_checked(scores, labels)
    defined = ~np.isnan(ap)
    metrics = {
        f"{task}/mAP": float(ap[defined].mean()) if defined.any() else float("nan"),
        f"{task}/n_categories": float(ap.size),
        f"{task}/n_categories_without_positive": float((~defined).sum()),
    }
    for k in ks:
        if k > scores.shape[1]:
            # Top-K over fewer than K categories is undefined (e.g. ZSL@5 with 3 unseen categories).
            logger.warning("%s: K=%d > %d categories; P/R/F1@%d reported as NaN", task, k, scores.shape[1], k)
            precision = recall = f1 = float("nan")
        else:
            precision, recall, f1 = _precision_recall_f1_checked(scores, labels, k)
        metrics |= {f"{task}/P_at_{k}": precision, f"{task}/R_at_{k}": recall, f"{task}/F1_at_{k}": f1}
    return metrics


def zsl_gzsl_metrics(
    scores: Any, labels: Any, unseen_mask: Any, ks: Sequence[int] = (3, 5)
) -> dict[str, float]:
    """ZSL (unseen columns only) and GZSL (all columns) metrics in one flat dict.

    Keys (MLflow-safe: MLflow rejects ``@`` in metric names): ``zsl/mAP``, ``zsl/P_at_3``, ``zsl/R_at_3``,
    ``zsl/F1_at_3``, … the same under ``gzsl/``, plus ``<task>/n_categories`` and
    ``<task>/n_categories_without_positive``. Values are fractions in [0, 1] (the paper prints percent).

    Args:
        scores: Prediction scores [N, C] over the whole vocabulary (seen and unseen).
        labels: ``1`` / ``0`` / ``-1`` labels [N, C].
        unseen_mask: Boolean [C], True for unseen categories.
        ks: Values of K for the top-K metrics; a K larger than a task's number of categories gives NaN
            for that task's P/R/F1@K (with a warning), e.g. ZSL@5 with only 3 unseen categories.

    Returns:
        Metric name → value.

    Raises:
        ValueError: If ``unseen_mask`` does not match the number of columns or selects no category.
    """
    scores_np, labels_np = _as_arrays(scores, labels)
    mask = np.asarray(unseen_mask.cpu() if hasattr(unseen_mask, "cpu") else unseen_mask)
    if mask.dtype != np.bool_ or mask.shape != (scores_np.shape[1],):
        raise ValueError(
            f"unseen_mask must be a boolean [C] array with C={scores_np.shape[1]}, "
            f"got dtype {mask.dtype} shape {mask.shape}"
        )
    if not mask.any():
        raise ValueError("unseen_mask selects no category: ZSL metrics need at least one unseen category")
    zsl = _task_metrics("zsl", scores_np[:, mask], labels_np[:, mask], ks)
    return zsl | _task_metrics("gzsl", scores_np, labels_np, ks)


def seen_metrics(scores: Any, labels: Any, ks: Sequence[int] = (3, 5)) -> dict[str, float]:
    """mAP and P/R/F1@K over the given (seen) categories only, keys prefixed ``seen/``.

    What the strict ``seen`` selection protocol reads: the caller passes the seen columns only.
    """
    scores_np, labels_np = _as_arrays(scores, labels)
    return _task_metrics("seen", scores_np, labels_np, ks)


def retrieval_recall_at_k(scores: Any, labels: Any, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Image→text and text→image recall@K of a multi-label score matrix (PICO's retrieval metrics).

    Multi-label retrieval counts a query as answered when one of its K best-ranked results is relevant:

    * **image→text** ``i2t/R_at_K``: over the images with at least one known positive, the fraction whose K
      highest-scoring categories include a positive (the top-1 accuracy of single-label data at K = 1);
    * **text→image** ``t2i/R_at_K``: over the categories with at least one known positive, the fraction
      whose K highest-scoring images include a positive. An image with an unknown (``-1``) label for the
      category is left out of that category's ranking.

    Ties go to the lower index (``np.argsort``, stable). A K larger than the candidates of a direction (C
    categories or N images) gives NaN for it.

    Args:
        scores: ``[N, C]`` scores.
        labels: ``[N, C]`` labels (1 / 0 / -1).
        ks: The values of K.

    Returns:
        ``i2t/R_at_K`` and ``t2i/R_at_K`` per K, fractions in [0, 1].
    """
    scores_np, labels_np = _as_arrays(scores, labels)
    n, c = scores_np.shape
    positive = labels_np == 1
    metrics: dict[str, float] = {}
    for k in (int(k) for k in ks):
        if k < 1:
            raise ValueError(f"retrieval K must be >= 1, got {k}")
        metrics[f"i2t/R_at_{k}"] = _recall_at_k(scores_np, positive, k) if k <= c else float("nan")
        # text → image: rank the images of each category; unknown labels are taken out of the ranking
        t_scores = np.where(labels_np == -1, -np.inf, scores_np).T
        metrics[f"t2i/R_at_{k}"] = _recall_at_k(t_scores, positive.T, k) if k <= n else float("nan")
    return metrics


def _recall_at_k(scores: np.ndarray, positive: np.ndarray, k: int) -> float:
    """Fraction of the rows with a positive whose ``k`` best columns hold one (``[Q, R]`` arrays)."""
    queries = positive.any(axis=1)
    if not queries.any():
        return float("nan")
    hits = 0
    step = max(1, _CHUNK_ELEMENTS // max(1, scores.shape[1]))
    for start in range(0, scores.shape[0], step):
        block = scores[start : start + step]
        top = np.argsort(-block, axis=1, kind="stable")[:, :k]
        hit = np.take_along_axis(positive[start : start + step], top, axis=1).any(axis=1)
        hits += int((hit & queries[start : start + step]).sum())
    return hits / int(queries.sum())


def zsl_gzsl_retrieval(
    scores: Any, labels: Any, unseen_mask: Any, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """:func:`retrieval_recall_at_k` over the unseen columns (``zsl/i2t/R_at_1`` ...) and over all of them
    (``gzsl/...``)."""
    scores_np, labels_np = _as_arrays(scores, labels)
    mask = np.asarray(unseen_mask.cpu() if hasattr(unseen_mask, "cpu") else unseen_mask).astype(bool)
    zsl = retrieval_recall_at_k(scores_np[:, mask], labels_np[:, mask], ks)
    gzsl = retrieval_recall_at_k(scores_np, labels_np, ks)
    return {f"zsl/{k}": v for k, v in zsl.items()} | {f"gzsl/{k}": v for k, v in gzsl.items()}
