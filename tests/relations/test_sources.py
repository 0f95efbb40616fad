"""The non-LLM relation sources (Table 4): similarity, co-occurrence, random."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ovmlr.relations.sources import (
    cooccurrence_scores,
    ensemble_text_features,
    random_scores,
    similarity_scores,
)


def rows(frame: pd.DataFrame, target: int) -> list[tuple[int, float]]:
    part = frame[frame["category_id"] == target]
    return [(int(s), round(float(v), 4)) for s, v in zip(part["source_id"], part["score"], strict=True)]


def test_similarity_is_the_cosine_of_ensemble_features_best_first(category_split, text_features):
    scores = similarity_scores(category_split, text_features)
    norm = np.hypot(1.0, 0.1)
    assert rows(scores, 4) == [
        (0, round(1 / norm, 4)),
        (3, round(0.86 / norm, 4)),
        (2, round(0.68 / norm, 4)),
        (1, round(0.1 / norm, 4)),
    ]
    assert rows(scores, 1) == [(2, 0.8), (3, 0.6), (0, 0.0)]  # seen target: never itself
    assert set(scores["source_id"]) == {0, 1, 2, 3}
    assert all(types == ["similarity"] for types in scores["relation_types"])


def test_cooccurrence_is_the_conditional_probability_over_train_labels(category_split, train_labels):
    scores = cooccurrence_scores(category_split, train_labels)
    assert rows(scores, 0) == [(3, round(2 / 3, 4)), (2, round(1 / 3, 4))]  # P(s | sneaker)
    assert rows(scores, 1) == [(2, 0.5)]  # -1 (unknown) is not a positive
    assert rows(scores, 2) == [(0, 0.5), (1, 0.5)]
    assert rows(scores, 3) == [(0, 1.0)]
    assert set(scores["category_id"]) == {0, 1, 2, 3}  # unseen categories have no training labels


def test_cooccurrence_needs_every_seen_column(category_split, train_labels):
    with pytest.raises(ValueError, match=r"train_labels lacks the column\(s\) of seen categories \['coat'\]"):
        cooccurrence_scores(category_split, train_labels.drop(columns="coat"))


def test_random_is_seeded_per_target(category_split):
    first, again, other = (random_scores(category_split, seed) for seed in (3, 3, 4))
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(
        first.sort_values(["category_id", "source_id"])["score"],
        other.sort_values(["category_id", "source_id"])["score"],
    )
    reordered = random_scores(category_split.iloc[::-1].reset_index(drop=True), 3)
    pd.testing.assert_frame_equal(first, reordered)  # a target's draws do not depend on category order
    assert len(first) == 6 * 4 - 4 and ((first["score"] >= 0) & (first["score"] < 1)).all()


def test_ensemble_features_missing_for_a_category_is_an_error(category_split, text_features):
    dropped = text_features[
        ~((text_features["template"] == "__ensemble__") & (text_features["category_id"] == 5))
    ]
    with pytest.raises(ValueError, match=r"no '__ensemble__' row for categories \[\(5, 'shirt'\)\]"):
        ensemble_text_features(dropped, category_split)


def test_ensemble_features_are_normalised_in_category_order(category_split, text_features):
    features = ensemble_text_features(text_features, category_split.iloc[::-1])
    assert features.shape == (6, 2)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0)
    np.testing.assert_allclose(features[0], np.array([0.1, 1.0]) / np.hypot(0.1, 1.0))  # shirt first
