import numpy as np
import pandas as pd
import pytest

from ovmlr.core.vocabulary import ENSEMBLE, build_vocabulary_from_tables, label_matrix


def _tables():
    split = pd.DataFrame(
        {
            "category_id": [0, 1, 2, 3],
            "name": ["a", "b", "c", "d"],
            "role": ["seen", "unseen", "seen", "seen"],
        }
    )
    rng = np.random.default_rng(0)
    rows = []
    for template in (ENSEMBLE, "a photo of a {}."):
        for cid, name in zip(split.category_id, split.name, strict=True):
            rows.append(
                {
                    "category_id": cid,
                    "name": name,
                    "template": template,
                    "embedding": rng.normal(size=4).astype(np.float32).tolist(),
                }
            )
    neighbours = pd.DataFrame(
        {"category_id": [0, 1, 2, 3], "neighbour_ids": [[2, 3], [0, 2], [0, 3], [0, 2]]}
    )
    return split, pd.DataFrame(rows), neighbours


def test_vocabulary_order_roles_and_neighbour_positions():
    split, text, neighbours = _tables()
    vocab = build_vocabulary_from_tables(split, text, neighbours)
    assert vocab.names == ("a", "b", "c", "d")
    assert vocab.unseen_mask.tolist() == [False, True, False, False]
    assert vocab.text.shape == (4, 4) and vocab.text.dtype == np.float32
    assert vocab.neighbours.tolist() == [[2, 3], [0, 2], [0, 3], [0, 2]]


def test_seen_subset_reindexes_neighbours():
    split, text, neighbours = _tables()
    seen = build_vocabulary_from_tables(split, text, neighbours).subset("seen")
    assert seen.names == ("a", "c", "d")
    # a -> (c, d) = positions (1, 2); c -> (a, d) = (0, 2); d -> (a, c) = (0, 1)
    assert seen.neighbours.tolist() == [[1, 2], [0, 2], [0, 1]]


def test_subset_rejects_unseen_neighbour():
    split, text, neighbours = _tables()
    neighbours.loc[0, "neighbour_ids"] = [1, 2]
    vocab = build_vocabulary_from_tables(split, text, neighbours)
    with pytest.raises(ValueError, match="Category 'a' has a neighbour that is not seen"):
        vocab.subset("seen")


def test_single_template_rows_are_used():
    split, text, neighbours = _tables()
    vocab = build_vocabulary_from_tables(split, text, neighbours, template="a photo of a {}.")
    expected = text[(text.template == "a photo of a {}.") & (text.category_id == 3)].embedding.iloc[0]
    np.testing.assert_allclose(vocab.text[3], expected)


def test_unknown_template_and_missing_neighbours_are_named():
    split, text, neighbours = _tables()
    with pytest.raises(ValueError, match="no template 'nope'"):
        build_vocabulary_from_tables(split, text, neighbours, template="nope")
    with pytest.raises(ValueError, match=r"no row for category ids \[3\]"):
        build_vocabulary_from_tables(split, text, neighbours.iloc[:3])
    ragged = neighbours.copy()
    ragged.loc[0, "neighbour_ids"] = [2]
    with pytest.raises(ValueError, match="same number K"):
        build_vocabulary_from_tables(split, text, ragged)


def test_label_matrix_columns_and_missing():
    labels = pd.DataFrame({"image_id": ["x", "y"], "a": [1, -1], "b": [0, 1]})
    ids, y = label_matrix(labels, ("b", "a"))
    assert ids.tolist() == ["x", "y"] and y.tolist() == [[0, 1], [1, -1]] and y.dtype == np.int8
    with pytest.raises(ValueError, match=r"lacks category columns \['zzz'\]"):
        label_matrix(labels, ("zzz",))
