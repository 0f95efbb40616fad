"""Fine-tuning from a registered model: the parent checked once, its head handed to the runs, its other
labels kept (or dropped) with their thresholds, its lineage recorded."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ovmlr.core.thresholds import LabelThreshold, Thresholds
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.selection.lineage import check_parent, head_init, inherit, kept_vocabulary
from ovmlr.training.recipe import TrainingRecipe

URI = "models:/toy@champion"


def _vocabulary(names: tuple[str, ...], roles: tuple[str, ...], neighbours: list[list[int]]) -> Vocabulary:
    text = np.eye(len(names), 4, dtype=np.float32) + 0.1
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return Vocabulary(np.arange(len(names)) + 10, names, roles, text, np.array(neighbours, dtype=np.int64))


OWN = _vocabulary(
    ("cat", "dog", "bus", "zebra"), ("seen", "seen", "seen", "unseen"), [[1, 2], [0, 2], [0, 1], [0, 1]]
)
# the parent: "Dog" is shared (another case), "boat" and "kite" are its own; "kite"'s neighbours: dog, boat
PARENT = _vocabulary(("Dog", "boat", "kite"), ("seen", "seen", "unseen"), [[1, 1], [0, 0], [0, 1]])


def test_kept_labels_are_appended_and_point_at_the_same_names_in_the_new_vocabulary() -> None:
    merged, kept = kept_vocabulary(OWN, PARENT)
    assert kept == ("boat", "kite") and merged.names == (*OWN.names, "boat", "kite")
    assert merged.roles[4:] == ("seen", "unseen") and len(set(merged.category_ids)) == 6
    np.testing.assert_array_equal(merged.neighbours[:4], OWN.neighbours)  # this dataset's rows unchanged
    assert [merged.names[j] for j in merged.neighbours[5]] == ["dog", "boat"]
    assert merged.names[merged.neighbours[4][0]] == "dog" and 4 not in merged.neighbours[4]  # never itself
    np.testing.assert_array_equal(merged.text[4:], PARENT.text[1:])


def test_a_parent_of_another_k_cannot_be_kept() -> None:
    other = _vocabulary(("boat", "kite", "sun"), ("seen",) * 3, [[1], [0], [0]])
    with pytest.raises(ValueError, match="parent's vocabulary has K=1.*this dataset's K=2.*vocabulary: drop"):
        kept_vocabulary(OWN, other)


def _recipe(uri: str | None, vocabulary: str = "keep", mode: str = "frozen") -> TrainingRecipe:
    return TrainingRecipe.from_params(
        {"init": {"model_uri": uri, "vocabulary": vocabulary}, "loop": {"mode": mode}}
    )


def test_the_parent_is_checked_against_the_recipe(trained) -> None:
    parent = replace(trained, info={"model_uri": URI})
    assert check_parent(None, _recipe(None)) is None and check_parent(parent, _recipe(URI)) is parent
    with pytest.raises(ValueError, match="training_init_model loaded no model.*--params training.init"):
        check_parent(None, _recipe(URI))
    with pytest.raises(ValueError, match="loaded 'models:/toy@champion' but training.init.model_uri is 'x'"):
        check_parent(parent, _recipe("x"))
    with pytest.raises(ValueError, match="trains the head on frozen features"):
        check_parent(parent, _recipe(URI, mode="finetune"))
    with pytest.raises(ValueError, match="training.init.vocabulary must be one of"):
        _recipe(URI, vocabulary="merge")


def test_the_head_comes_from_a_parent_of_the_same_backbone(trained) -> None:
    parent = replace(trained, info={"model_uri": URI, "registered_model": {"name": "toy", "version": "3"}})
    backbone = {"backbone_id": parent.backbone_spec.backbone_id, "embed_dim": 16}
    init = head_init(parent, backbone)
    assert init.source == "models:/toy/3" and init.head_state is parent.head_state
    with pytest.raises(ValueError, match="trained on backbone .* this dataset's features come from 'other'"):
        head_init(parent, backbone | {"backbone_id": "other"})


def test_inherit_records_the_lineage_and_keeps_or_drops_the_parents_labels(trained) -> None:
    fit = LabelThreshold(0.3, 0.5, 0.5, 0.5, 2)
    parent = replace(
        trained,
        vocabulary=replace(PARENT, roles=("seen", "seen", "seen")),
        info={"model_uri": URI, "registered_model": {"name": "toy", "version": "3"}, "dataset": "old"},
        thresholds=Thresholds("f1", {"cat": fit, "kite": fit}, None),
    )
    own = Thresholds("f1", {"cat": LabelThreshold(0.1, 1, 1, 1, 1)}, None)
    child = replace(trained, vocabulary=OWN, thresholds=own, info={"dataset": "new"})
    kept = inherit(child, parent, _recipe(URI))
    lineage = kept.info["lineage"]
    assert (lineage["parent_name"], lineage["parent_version"], lineage["parent_dataset"]) == (
        "toy",
        "3",
        "old",
    )
    assert kept.vocabulary.names[4:] == ("boat", "kite") and kept.dataset_vocabulary.names == OWN.names
    assert kept.thresholds.labels["cat"].threshold == 0.1  # its own, not the parent's
    assert kept.thresholds.labels["kite"].source == "parent models:/toy/3"
    dropped = inherit(child, parent, _recipe(URI, vocabulary="drop"))
    assert dropped.vocabulary is OWN and set(dropped.thresholds.labels) == {"cat"}
    assert dropped.info["lineage"]["kept_labels"] == [] and "lineage" not in child.info
