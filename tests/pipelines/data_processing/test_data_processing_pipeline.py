"""The data_processing pipeline run by Kedro's SequentialRunner on an in-memory catalog."""

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from ovmlr.data.fashion_mnist import FashionMNISTRelease
from ovmlr.datasets import ImageFolderDataset
from ovmlr.pipelines.data_processing import create_pipeline
from ovmlr.pipelines.data_processing.pipeline import OUTPUTS

SOURCE = "fashion_mnist"  # the release below is a Fashion-MNIST one
OPTIONS = {
    "pretrain_train_items": 60,
    "pretrain_heldout_items": 40,
    "train_images": 12,
    "val_images": 4,
    "test_images": 6,
    "blank_probability": 0.5,
}


def tiny_release() -> FashionMNISTRelease:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    return FashionMNISTRelease(
        train, np.arange(200, dtype=np.uint8) % 10, test, np.arange(50, dtype=np.uint8) % 10
    )


def run(catalog: DataCatalog) -> None:
    SequentialRunner().run(create_pipeline(), catalog)


def make_catalog(mosaic_dir, images_dataset) -> DataCatalog:
    datasets = {name: MemoryDataset() for name in OUTPUTS}
    datasets |= {
        "raw_source": MemoryDataset(tiny_release()),
        "params:data_processing.sources": MemoryDataset({SOURCE: {**OPTIONS, "mosaic_dir": str(mosaic_dir)}}),
        "params:data_processing.seed": MemoryDataset(5),
        "mosaic_images": images_dataset,
    }
    return DataCatalog(datasets)


def test_pipeline_writes_the_contract_tables_and_one_png_per_manifest_row(tmp_path):
    mosaic_dir = tmp_path / "mosaics"
    images = ImageFolderDataset(path=str(mosaic_dir))
    catalog = make_catalog(mosaic_dir, images)
    run(catalog)
    manifest = catalog.load("image_manifest")
    assert manifest["split"].value_counts().to_dict() == {"train": 12, "test": 6, "val": 4}
    assert catalog.load("labels")["image_id"].tolist() == manifest["image_id"].tolist()
    assert catalog.load("categories")["name"].iloc[-1] == "ankle boot"
    assert len(catalog.load("pretrain_pool")) == 100
    assert catalog.load("data_report").empty
    layout = catalog.load("mosaic_layout")
    for path in manifest["path"]:
        with Image.open(path) as image:
            assert image.size == (56, 56) and image.mode == "L"
    # The PNG on disk holds the source item in the tile the layout names.
    tile = layout.iloc[0]
    with Image.open(manifest.set_index("image_id").at[tile["image_id"], "path"]) as image:
        pixels = np.asarray(image)
    r, c = divmod(int(tile["tile"]), 2)
    split, index = tile["item_id"].split("-")
    source = tiny_release().train_images if split == "train" else tiny_release().test_images
    np.testing.assert_array_equal(pixels[28 * r : 28 * r + 28, 28 * c : 28 * c + 28], source[int(index)])


def test_a_rerun_keeps_the_unchanged_pngs_and_their_mtimes(tmp_path):
    mosaic_dir = tmp_path / "mosaics"
    images = ImageFolderDataset(path=str(mosaic_dir))
    run(make_catalog(mosaic_dir, images))
    before = {p.name: p.stat().st_mtime_ns for p in mosaic_dir.glob("*.png")}
    run(make_catalog(mosaic_dir, images))
    assert images.last_save_counts == {"written": 0, "unchanged": len(before), "removed": 0}
    assert {p.name: p.stat().st_mtime_ns for p in mosaic_dir.glob("*.png")} == before


def test_bad_options_fail_the_node_with_a_clear_message(tmp_path):
    catalog = make_catalog(tmp_path, MemoryDataset())
    catalog["params:data_processing.sources"] = MemoryDataset(
        {SOURCE: {**OPTIONS, "mosaic_dir": "m", "tiles": 3}}
    )
    with pytest.raises(
        ValueError, match=rf"data_processing.sources.{SOURCE}: unknown option\(s\) \['tiles'\]"
    ):
        run(catalog)
