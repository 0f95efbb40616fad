"""The non-LLM relation sources of the Table 4 ablation (and the similarity fallback).

Each returns the long score table of :mod:`.llm_scores` (``category_id`` target, ``source_id`` seen,
``score``, ``relation_types``); a higher score is a stronger relation.

* ``similarity``: cosine of the categories' ensemble text features (Eq. 24), every seen source.
* ``cooccurrence``: :math:`P(s \\mid c) = n(s, c) / n(c)` from the training labels (Fig. 10a), seen targets
  only: an unseen category has no training labels, so it gets the fallback.
* ``random``: a uniform draw per (target, source), seeded per target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ovmlr.core.vocabulary import ENSEMBLE

from .llm_scores import SCORE_COLUMNS


def ensemble_text_features(text_features: pd.DataFrame, category_split: pd.DataFrame) -> np.ndarray:
    """The ``[C, D]`` ensemble text features in ``category_split`` order, L2-normalised.

    Raises:
        ValueError: On missing columns, a category without an ``__ensemble__`` row, or a zero vector.
    """
    missing = [c for c in ("category_id", "template", "embedding") if c not in text_features.columns]
    if missing:
        raise ValueError(f"text_features lacks column(s) {missing}; found {list(text_features.columns)}")
    ensemble = text_features[text_features["template"] == ENSEMBLE].drop_duplicates("category_id")
    by_id = dict(zip(ensemble["category_id"].astype(int), ensemble["embedding"], strict=True))
    ids = category_split["category_id"].astype(int).tolist()
    absent = [(i, n) for i, n in zip(ids, category_split["name"], strict=True) if i not in by_id]
    if absent:
        raise ValueError(f"text_features has no {ENSEMBLE!r} row for categories {absent[:5]}")
    features = np.stack([np.asarray(by_id[i], dtype=np.float64) for i in ids])  # [C, D]
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(
            f"text_features: zero ensemble vector for category ids {np.asarray(ids)[norms[:, 0] == 0]}"
        )
    return features / norms


def _long_table(targets: np.ndarray, sources: np.ndarray, scores: np.ndarray, kind: str) -> pd.DataFrame:
    frame = pd.DataFrame({"category_id": targets, "source_id": sources, "score": scores})
    frame["relation_types"] = [[kind] for _ in range(len(frame))]
    frame = frame[SCORE_COLUMNS].astype({"category_id": "int64", "source_id": "int64", "score": "float64"})
    return frame.sort_values(
        ["category_id", "score", "source_id"], ascending=[True, False, True], ignore_index=True
    )


def _pairs(category_split: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row/column positions and ids of every (target, seen source ≠ target) pair."""
    ids = category_split["category_id"].astype(int).to_numpy()
    seen_pos = np.flatnonzero((category_split["role"] == "seen").to_numpy())
    t_pos, s_pos = np.meshgrid(np.arange(len(ids)), seen_pos, indexing="ij")
    keep = ids[t_pos] != ids[s_pos]
    return t_pos[keep], s_pos[keep], ids[t_pos[keep]], ids[s_pos[keep]]


def similarity_scores(category_split: pd.DataFrame, text_features: pd.DataFrame) -> pd.DataFrame:
    """Cosine similarity of ensemble text features for every (target, seen source) pair."""
    features = ensemble_text_features(text_features, category_split)  # [C, D]
    t_pos, s_pos, t_ids, s_ids = _pairs(category_split)
    cosine = np.einsum("pd,pd->p", features[t_pos], features[s_pos])
    return _long_table(t_ids, s_ids, cosine, "similarity")


def cooccurrence_scores(category_split: pd.DataFrame, train_labels: pd.DataFrame) -> pd.DataFrame:
    """:math:`P(s \\mid c)` over training images for seen targets ``c`` (pairs never co-occurring omitted).

    Raises:
        ValueError: When ``train_labels`` lacks a seen category's column.
    """
    seen = category_split[category_split["role"] == "seen"]
    names = seen["name"].tolist()
    missing = [n for n in names if n not in train_labels.columns]
    if missing:
        raise ValueError(f"train_labels lacks the column(s) of seen categories {missing[:5]}")
    positive = (train_labels[names].to_numpy() == 1).astype(np.float64)  # [N, S]
    together = positive.T @ positive  # [S, S]: n(c, s)
    counts = np.diag(together).copy()  # [S]: n(c)
    conditional = np.divide(together, counts[:, None], out=np.zeros_like(together), where=counts[:, None] > 0)
    np.fill_diagonal(conditional, 0.0)
    t_idx, s_idx = np.nonzero(conditional > 0)
    ids = seen["category_id"].astype(int).to_numpy()
    return _long_table(ids[t_idx], ids[s_idx], conditional[t_idx, s_idx], "cooccurrence")


def random_scores(category_split: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A uniform draw per (target, seen source).

    Target ``c`` draws from ``default_rng([seed, c])`` in source-id order, independent of category order.
    """
    _, _, t_ids, s_ids = _pairs(category_split)
    scores = np.empty(len(t_ids))
    for target in np.unique(t_ids):
        positions = np.flatnonzero(t_ids == target)
        positions = positions[np.argsort(s_ids[positions])]  # draws in source-id order
        scores[positions] = np.random.default_rng([seed, int(target)]).random(len(positions))
    return _long_table(t_ids, s_ids, scores, "random")
