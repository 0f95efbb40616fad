import numpy as np
import pytest

from ovmlr.data.tables import DatasetTables, make_categories, make_labels, make_manifest


def tables(ids=("a", "b"), matrix=None, names=("cat", "dog"), splits=("train", "test")):
    matrix = np.array([[1, 0], [-1, 1]]) if matrix is None else matrix
    return DatasetTables(
        image_manifest=make_manifest(list(ids), [f"{i}.png" for i in ids], list(splits)),
        labels=make_labels(list(ids), matrix, list(names)),
        categories=make_categories(list(names), [""] * len(names), "names.txt"),
    )


def test_valid_tables_have_the_contract_columns_and_empty_extras():
    t = tables()
    assert t.labels.columns.tolist() == ["image_id", "cat", "dog"]
    assert t.labels["dog"].dtype == np.int8
    assert t.categories["category_id"].tolist() == [0, 1]
    assert t.pretrain_pool.columns.tolist() == [
        "item_id",
        "class_id",
        "class_name",
        "split",
        "pixels",
        "height",
        "width",
        "channels",
        "tags",
        "title",
    ]
    assert t.vocabulary_report.empty and t.vocabulary_report.columns.tolist() == ["tag", "items", "reason"]
    assert t.data_report.empty and t.data_report.columns.tolist() == ["image_id", "path", "reason"]


def test_duplicate_image_id_is_an_error():
    with pytest.raises(ValueError, match="image_manifest: duplicate image_id 'a'"):
        tables(ids=("a", "a"))


def test_unknown_split_and_label_value_are_errors():
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['dev'\]"):
        tables(splits=("train", "dev"))
    with pytest.raises(ValueError, match=r"labels: values must be in \(-1, 0, 1\)"):
        tables(matrix=np.array([[2, 0], [0, 0]]))


def test_label_matrix_of_the_wrong_width_is_an_error():
    with pytest.raises(ValueError, match=r"label matrix has shape \(2, 3\), expected \(2, 2\)"):
        make_labels(["a", "b"], np.zeros((2, 3)), ["cat", "dog"])


def test_category_names_must_be_unique_non_empty_and_not_the_key():
    with pytest.raises(ValueError, match=r"names.txt: duplicate category name 'cat' \(positions 0 and 2\)"):
        make_categories(["cat", "dog", "cat"], [""] * 3, "names.txt")
    with pytest.raises(ValueError, match="names.txt: category 1 has an empty or padded name ' dog'"):
        make_categories(["cat", " dog"], [""] * 2, "names.txt")
    with pytest.raises(ValueError, match="may not be named 'image_id'"):
        make_categories(["image_id"], [""], "names.txt")
    with pytest.raises(ValueError, match=r"unknown dataset_role value\(s\) \['novel'\]"):
        make_categories(["cat"], ["novel"], "names.txt")
    with pytest.raises(ValueError, match="names.txt: no categories"):
        make_categories([], [], "names.txt")
