"""Modality tables and category sets: alignment by sample id and the errors a user sees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ovmlr.multimodal.data import align_modalities, category_sets_from_frame, modality_labels, modality_table

NAMES = ("cat", "dog", "car", "tree")
ROLES = ("seen", "seen", "seen", "unseen")


def _tables():
    return {
        "image": modality_table(["s1", "s2", "s3"], np.eye(3, 4)),
        "text": modality_table(["s3", "s1"], np.ones((2, 5))),
    }


def test_tables_are_aligned_to_the_label_order() -> None:
    batch = align_modalities(_tables(), ["s3", "s1"], ["image", "text"], require_all=True, where="train")
    assert batch.sample_ids.tolist() == ["s3", "s1"]
    assert np.allclose(batch.features["image"], np.eye(3, 4)[[2, 0]])
    assert batch.features["text"].shape == (2, 5)


def test_mismatched_sample_ids_are_an_error_at_training_time() -> None:
    with pytest.raises(
        ValueError, match=r"modality 'text' has no features for 1 of 3 train samples \(e.g. \['s2'\]\)"
    ):
        align_modalities(_tables(), ["s1", "s2", "s3"], ["image", "text"], require_all=True, where="train")


def test_a_missing_modality_at_test_time_is_flagged_absent() -> None:
    batch = align_modalities(
        _tables(), ["s1", "s2", "s3"], ["image", "text"], require_all=False, where="test"
    )
    assert batch.present["text"].tolist() == [True, False, True]
    assert np.allclose(batch.features["text"][1], 0.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"image_id": ["a"], "vector": [[1.0]]}), "lacks columns \\['embedding'\\]"),
        (pd.DataFrame({"image_id": ["a", "a"], "embedding": [[1.0], [2.0]]}), "more than once"),
        (pd.DataFrame({"image_id": ["a", "b"], "embedding": [[1.0], [2.0, 3.0]]}), "lengths"),
        (pd.DataFrame({"image_id": ["a"], "embedding": [[float("nan")]]}), "non-finite"),
    ],
)
def test_bad_tables_are_named(table, message) -> None:
    tables = {"image": table, "text": _tables()["text"]}
    with pytest.raises(ValueError, match=f"modality table 'image' .*{message}"):
        align_modalities(tables, ["a"], ["image", "text"], require_all=False, where="test")


def test_a_modality_without_a_table_or_a_single_modality_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no feature table for modalities \['audio'\]"):
        align_modalities(_tables(), ["s1"], ["image", "audio"], require_all=False, where="test")
    with pytest.raises(ValueError, match="at least two modalities"):
        align_modalities(_tables(), ["s1"], ["image"], require_all=False, where="test")


def _sets(rows):
    return pd.DataFrame(rows, columns=["modality", "name"])


def test_category_sets_and_their_origins() -> None:
    frame = _sets([("image", "cat"), ("image", "dog"), ("text", "dog"), ("text", "car")])
    sets = category_sets_from_frame(frame, NAMES, ROLES, ["image", "text"])
    assert sets.origin().tolist() == ["only:image", "shared", "only:text", "unseen"]
    labels = np.array([[1, 1, 0, -1]], dtype=np.int8)
    assert modality_labels(labels, sets.member["text"]).tolist() == [[-1, 1, 0, -1]]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "modality_category_sets is empty: enable category_sets.heterogeneous"),
        ([("image", "cat")], "modality 'text' has an empty category set"),
        ([("image", "cat"), ("text", "boat")], "not a subset of the vocabulary: \\['boat'\\]"),
        ([("image", "cat"), ("text", "tree")], "holds unseen categories \\['tree'\\]"),
        (
            [("image", "cat"), ("text", "dog"), ("audio", "car")],
            "modalities \\['audio'\\] that have no features",
        ),
    ],
)
def test_bad_category_sets_are_named(rows, message) -> None:
    with pytest.raises(ValueError, match=message):
        category_sets_from_frame(_sets(rows), NAMES, ROLES, ["image", "text"])
