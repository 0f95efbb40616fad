"""Selection protocols: strict selection never reads an unseen category; the class-disjoint split; the
zero-shot weight chosen on validation data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from head_data import NAMES, ROLES, UNSEEN
from head_data import random_split as _split
from head_data import random_vocabulary as _vocabulary

from ovmlr.training.protocol import (
    SelectionConfig,
    check_strict,
    choose_zero_shot_weight,
    disjoint_vocabulary,
    held_out_mask,
    seen_columns,
    selection_data,
    topped_up_neighbours,
)

K = 2


def test_seen_columns_drop_every_unseen_category() -> None:
    split = pd.DataFrame({"category_id": range(8), "name": NAMES, "role": ROLES})
    labels = pd.DataFrame({"image_id": ["a"], **{n: [1] for n in NAMES}})
    assert list(seen_columns(labels, split).columns) == ["image_id", *NAMES[:6]]


def test_check_strict_refuses_an_unseen_category() -> None:
    vocab = _vocabulary()
    with pytest.raises(ValueError, match=r"strict selection received unseen categories \['u0', 'u1'\]"):
        check_strict(vocab, _split(4, 8, 0), UNSEEN)


@pytest.mark.parametrize("protocol", ["seen", "disjoint"])
def test_strict_protocols_hand_no_unseen_column_to_any_run(protocol: str) -> None:
    vocab = _vocabulary()
    train, val = _split(10, 6, 1), _split(12, 8, 2)
    metric = "seen/mAP" if protocol == "seen" else "gzsl/mAP"
    data = selection_data(train, val, vocab, SelectionConfig(protocol=protocol, metric=metric))
    assert data["final_vocabulary"].names == NAMES[:6]
    np.testing.assert_array_equal(data["final_val"].labels, val.labels[:, :6])
    assert data["final_val"].global_feats is val.global_feats  # shared, not copied
    if protocol == "disjoint":
        pseudo = data["selection_vocabulary"]
        assert set(pseudo.names) == set(NAMES[:6]) and not UNSEEN & set(pseudo.names)
        assert data["selection_train"].labels.shape[1] == int((~pseudo.unseen_mask).sum())
        assert data["selection_val"].labels.shape[1] == 6
    else:
        assert data["selection_vocabulary"] is None


def test_the_lax_protocol_keeps_the_unseen_columns() -> None:
    vocab, val = _vocabulary(), _split(12, 8, 2)
    data = selection_data(_split(10, 6, 1), val, vocab, SelectionConfig(protocol="lax"))
    assert data["final_val"] is val and data["final_vocabulary"] is vocab


def test_disjoint_vocabulary_holds_out_seeded_seen_categories_that_send_no_information() -> None:
    vocab = _vocabulary()
    pseudo = disjoint_vocabulary(vocab, fraction=0.34, seed=3)
    again = disjoint_vocabulary(vocab, fraction=0.34, seed=3)
    assert pseudo.roles == again.roles and np.array_equal(pseudo.neighbours, again.neighbours)
    held = pseudo.unseen_mask
    assert held.sum() == 2  # round(0.34 · 6)
    assert not held[pseudo.neighbours].any()  # no held-out category is anyone's neighbour
    assert (pseudo.neighbours != np.arange(6)[:, None]).all()
    pseudo.subset("seen")  # the training vocabulary of the selection run is closed


def test_topped_up_neighbours_keep_allowed_entries_in_order_and_fill_by_similarity() -> None:
    text = np.eye(4, dtype=np.float32)
    text[3] = [0.9, 0.1, 0, 0]
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    neighbours = np.array([[1, 2], [2, 0], [0, 1], [2, 1]])
    allowed = np.array([True, False, True, True])
    result, replaced = topped_up_neighbours(neighbours, text, allowed)
    assert result[0].tolist() == [2, 3]  # 1 dropped; 3 is 0's most similar allowed category
    assert result[3].tolist() == [2, 0]  # 2 kept first; 0 most similar to 3
    assert replaced == 3  # the three entries pointing at category 1


def test_held_out_mask_needs_enough_seen_categories() -> None:
    assert held_out_mask(10, 0.2, 0, k=4).sum() == 2
    assert held_out_mask(6, 0.9, 0, k=2).sum() == 3  # K+1 categories stay seen
    with pytest.raises(ValueError, match="at least K\\+2=6 seen categories"):
        held_out_mask(5, 0.2, 0, k=4)


def test_choose_zero_shot_weight_prefers_what_ranks_the_validation_labels() -> None:
    labels = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 0, 1]], dtype=np.int8)
    unseen = np.array([False, False, True, True])
    zero_shot = labels.astype(np.float32)  # perfect zero-shot scores
    cosine = np.where(unseen, -labels, labels).astype(np.float32)  # the head inverts the unseen ones
    weight, tried = choose_zero_shot_weight(
        cosine, zero_shot, labels, unseen, (0.0, 0.5, 1.0), "zsl/mAP", (1,)
    )
    assert tried[1.0] == pytest.approx(1.0) and tried[0.0] < 1.0
    assert weight == 1.0
    weight, _ = choose_zero_shot_weight(zero_shot, zero_shot, labels, unseen, (1.0, 0.0), "gzsl/mAP", (1,))
    assert weight == 0.0  # ties: the smallest weight (the paper's Eq. 10)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"protocol": "strictest"}, "protocol must be one of"),
        ({"protocol": "seen", "metric": "gzsl/mAP"}, "metric must be seen/"),
        ({"protocol": "seen", "metric": "seen/mAP", "zero_shot_weights": [0.5]}, "no unseen category"),
        ({"held_out_fraction": 1.0}, "held_out_fraction"),
        ({"zero_shot_weights": [1.5]}, "zero_shot_weights must be values in"),
        ({"epochs": 3}, r"unknown training.selection parameter\(s\) \[.epochs.\]"),
        ({"metric": "mAP"}, "must be zsl/<metric> or gzsl/<metric>"),
        ({"zero_shot_weights": 0.5}, "must be a list of weights"),
    ],
)
def test_bad_selection_parameters_are_named(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SelectionConfig.from_params(params)
