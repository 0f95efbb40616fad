"""The category_sets pipeline run by Kedro's SequentialRunner on an in-memory catalog."""

import logging

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset
from matplotlib.figure import Figure

from ovmlr.pipelines.category_sets import create_pipeline

NAMES = ["t-shirt", "sandal", "shirt", "bag", "sneaker"]


def inputs() -> dict[str, object]:
    ids = [f"i{k}" for k in range(8)]
    labels = pd.DataFrame({"image_id": ids}).join(
        pd.DataFrame([[(k + j) % 3 == 0 for j in range(5)] for k in range(8)], columns=NAMES).astype("int8")
    )
    return {
        "categories": pd.DataFrame({"category_id": range(5), "name": NAMES, "dataset_role": [""] * 5}),
        "labels": labels,
        "image_manifest": pd.DataFrame(
            {"image_id": ids, "path": "p", "split": ["train"] * 4 + ["val"] * 2 + ["test"] * 2}
        ),
        "unseen_category_names": [],
        "params:category_sets.strategy": "file",
        "params:category_sets.unseen_names": ["sandal", "bag"],
        "params:category_sets.num_unseen": 2,
        "params:category_sets.frequency_order": "rarest",
        "params:category_sets.seed": 0,
        "params:category_sets.heterogeneous.enabled": True,
        "params:category_sets.heterogeneous.modalities": ["image", "text"],
        "params:category_sets.heterogeneous.explicit_sets": {},
        "params:category_sets.heterogeneous.overlap": 0.34,
        "params:category_sets.heterogeneous.seed": 1,
        "params:category_sets.plot_max_bars": 40,
    }


def run(pipeline, tmp_path) -> DataCatalog:
    """Tables go to parquet files as in the project catalog (a runner releases consumed memory datasets)."""
    tables = ["category_split", "modality_category_sets", "train_labels", "val_labels", "test_labels"]
    datasets = {name: MemoryDataset(value) for name, value in inputs().items()}
    datasets |= {name: ParquetDataset(filepath=str(tmp_path / f"{name}.parquet")) for name in tables}
    datasets |= {"category_summary": ParquetDataset(filepath=str(tmp_path / "summary.parquet"))}
    catalog = DataCatalog(datasets | {"category_summary_plot": MemoryDataset()})
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_whole_pipeline(caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        catalog = run(create_pipeline(), tmp_path)
    split = catalog.load("category_split")
    assert split["role"].tolist() == ["seen", "unseen", "seen", "unseen", "seen"]
    assert catalog.load("train_labels").columns.tolist() == ["image_id", "t-shirt", "shirt", "sneaker"]
    assert catalog.load("test_labels").columns.tolist() == [
        "image_id",
        "t-shirt",
        "shirt",
        "sneaker",
        "sandal",
        "bag",
    ]
    assert len(catalog.load("train_labels")) == 4 and len(catalog.load("val_labels")) == 2
    modality_sets = catalog.load("modality_category_sets")
    assert set(modality_sets["name"]) == {"t-shirt", "shirt", "sneaker"}
    summary = catalog.load("category_summary").set_index("name")
    # sandal (column 1) is positive where (k + 1) % 3 == 0: i2, i5 -- no test image (i6, i7).
    assert summary.at["sandal", "test_positives"] == 0
    assert summary.at["sandal", "warning"].startswith("no positive test image")
    assert "Category 'sandal' (unseen): no positive test image" in caplog.text
    assert isinstance(catalog.load("category_summary_plot"), Figure)


def test_slice_from_the_split_to_the_label_tables(tmp_path):
    pipeline = create_pipeline().from_nodes("split_categories_node").to_nodes("split_labels_node")
    assert {n.name for n in pipeline.nodes} == {"split_categories_node", "split_labels_node"}
    catalog = run(pipeline, tmp_path)
    assert catalog.load("val_labels")["image_id"].tolist() == ["i4", "i5"]
    assert not catalog["category_summary"].exists()
