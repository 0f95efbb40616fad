import numpy as np
import pandas as pd
import pytest

from ovmlr.data.fashion_mnist import FASHION_MNIST_CLASSES, FashionMNISTConfig, build_fashion_mnist_tables
from ovmlr.data.mosaic import BLANK

SMALL = {
    "mosaic_dir": "data/mosaics/",
    "grid_size": 2,
    "blank_probability": 0.3,
    "pretrain_train_items": 100,
    "pretrain_heldout_items": 30,
    "train_images": 40,
    "val_images": 10,
    "test_images": 20,
}


def build(release, seed=3, **overrides):
    return build_fashion_mnist_tables(release, FashionMNISTConfig(**{**SMALL, **overrides}), seed)


def test_tables_follow_the_contracts(tiny_fashion_release):
    tables = build(tiny_fashion_release)
    manifest = tables.image_manifest
    assert manifest["split"].value_counts().to_dict() == {"train": 40, "test": 20, "val": 10}
    assert manifest["path"].iloc[0] == "data/mosaics/train_00000.png"
    assert tables.categories["name"].tolist() == list(FASHION_MNIST_CLASSES)
    assert set(tables.categories["dataset_role"]) == {""}
    assert tables.labels.columns.tolist() == ["image_id", *FASHION_MNIST_CLASSES]
    assert (tables.labels.dtypes.iloc[1:] == np.int8).all()
    assert tables.labels.iloc[:, 1:].sum(axis=1).min() >= 1
    assert tables.data_report.empty
    assert sorted(tables.image_files) == sorted(manifest["image_id"])


def test_labels_match_the_classes_drawn_in_the_tiles(tiny_fashion_release):
    tables = build(tiny_fashion_release)
    layout = tables.mosaic_layout
    names = np.array(FASHION_MNIST_CLASSES)
    for image_id, tiles in layout.groupby("image_id"):
        row = tables.labels.set_index("image_id").loc[image_id]
        assert set(row.index[row == 1]) == set(names[tiles["class_id"]])


def test_rendered_pixels_are_the_source_items(tiny_fashion_release):
    tables = build(tiny_fashion_release)
    release = tiny_fashion_release
    for row in tables.mosaic_layout.head(25).itertuples():
        mosaic = np.asarray(tables.image_files[row.image_id]())
        r, c = divmod(row.tile, 2)
        split, index = row.item_id.split("-")
        source = release.train_images if split == "train" else release.test_images
        np.testing.assert_array_equal(mosaic[4 * r : 4 * r + 4, 4 * c : 4 * c + 4], source[int(index)])
    filled = tables.mosaic_layout.groupby("image_id")["tile"].apply(set)
    first = np.asarray(tables.image_files["val_00000"]())
    for tile in set(range(4)) - filled["val_00000"]:
        r, c = divmod(tile, 2)
        assert (first[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] == 0).all()  # blank tiles are black
    assert BLANK == -1


def test_sources_are_disjoint_and_test_mosaics_use_the_test_split(tiny_fashion_release):
    tables = build(tiny_fashion_release)
    layout = tables.mosaic_layout
    split_of = tables.image_manifest.set_index("image_id")["split"]
    used = {
        s: set(layout.loc[layout["image_id"].map(split_of) == s, "item_id"]) for s in ("train", "val", "test")
    }
    pool = tables.pretrain_pool
    pool_items = {s: set(pool.loc[pool["split"] == s, "item_id"]) for s in ("train", "heldout")}
    groups = [used["train"], used["val"], pool_items["train"], pool_items["heldout"]]
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # pairwise disjoint
    assert layout["item_id"].is_unique
    assert all(item.startswith("test-") for item in used["test"])
    assert all(item.startswith("train-") for group in groups for item in group)


def test_pretrain_pool_holds_single_items_of_all_classes(tiny_fashion_release):
    pool = build(tiny_fashion_release).pretrain_pool
    assert pool["split"].value_counts().to_dict() == {"train": 100, "heldout": 30}
    assert set(pool.loc[pool["split"] == "heldout", "class_id"]) == set(range(10))
    row = pool.iloc[0]
    pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"])
    np.testing.assert_array_equal(
        pixels, tiny_fashion_release.train_images[int(row["item_id"].split("-")[1])]
    )
    assert row["class_name"] == FASHION_MNIST_CLASSES[row["class_id"]]


def test_deterministic_given_the_seed(tiny_fashion_release):
    a, b, c = build(tiny_fashion_release), build(tiny_fashion_release), build(tiny_fashion_release, seed=4)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.mosaic_layout, b.mosaic_layout)
    pd.testing.assert_frame_equal(a.pretrain_pool, b.pretrain_pool)
    assert not a.mosaic_layout.equals(c.mosaic_layout)


def test_not_enough_items_is_a_clear_error(tiny_fashion_release):
    with pytest.raises(
        ValueError, match=r"train\+val mosaics: the mosaics need \d+ items but only 270 are available"
    ):
        build(tiny_fashion_release, train_images=200)
    with pytest.raises(ValueError, match="the pretraining pool needs 500 items; the train split has 400"):
        build(tiny_fashion_release, pretrain_train_items=500, pretrain_heldout_items=0)


def test_heldout_pool_missing_a_class_is_an_error(tiny_fashion_release):
    with pytest.raises(ValueError, match=r"pretraining pool split 'heldout' has no item of class\(es\)"):
        build(tiny_fashion_release, pretrain_heldout_items=3)


def test_label_outside_the_class_names_is_an_error(tiny_fashion_release):
    with pytest.raises(ValueError, match="Fashion-MNIST train label 5 at item 5 is outside the 5 configured"):
        build(tiny_fashion_release, class_names=FASHION_MNIST_CLASSES[:5])
