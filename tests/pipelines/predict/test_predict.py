"""The predict pipeline on an in-memory catalog: a tiny trained model, a folder of mixed images (one
broken), new label names; a re-run encodes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.llm.cache import empty_cache_frame
from ovmlr.pipelines.predict import create_pipeline
from ovmlr.pipelines.predict.nodes import read_label_names
from ovmlr.trained.pyfunc import TrainedC2SRTPyfunc

LABELS = ["zebra", "cat", "fire truck", "lion"]


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read every output."""

    def _release(self) -> None:
        pass


def _catalog(trained, folder, cache, labels) -> DataCatalog:
    params = {
        "images": str(folder),
        "labels": labels,
        "policy": "similarity",
        "top_k": 2,
        "encoding": {"batch_size": 2, "num_workers": 0, "chunk_size": 4},
        "contact_sheet": {"max_images": 4, "n_cols": 2, "top_k": 2},
    }
    catalog = DataCatalog(
        {
            "prediction_embedding_index": EmbeddingCacheDataset(str(cache)),
            "prediction_embeddings": EmbeddingCacheDataset(str(cache)),
        }
    )
    inputs = {
        "predict_model": trained,
        "llm_backend": None,
        "prediction_llm_cache_before": empty_cache_frame(),
        "params:relation_mining.llm": {},
        **{f"params:predict.{k}": v for k, v in params.items()},
        "params:predict.encoding.batch_size": 2,
    }
    for name, value in inputs.items():
        catalog[name] = MemoryDataset(value, copy_mode="assign")
    for name in create_pipeline().all_outputs() - {"prediction_embeddings"}:
        catalog[name] = KeptDataset(copy_mode="assign")
    return catalog


def test_predict_tags_a_folder_and_reuses_the_cache(trained, image_files, tmp_path) -> None:
    folder = image_files[0].parent
    (folder / "broken.png").write_bytes(b"not a png")
    catalog = _catalog(trained, folder, tmp_path / "cache", LABELS)
    SequentialRunner().run(create_pipeline(), catalog)
    table = catalog.load("predictions")
    assert len(table) == 5 and list(table.columns[:1]) == ["path"] and set(LABELS) <= set(table.columns)
    skipped = catalog.load("prediction_skipped")
    assert skipped["path"].tolist() == [str(folder / "broken.png")]
    assert "not a readable image" in skipped["reason"][0]
    by_path = TrainedC2SRTPyfunc(trained).predict(None, table[["path"]], {"labels": LABELS, "top_k": 2})
    np.testing.assert_allclose(table[LABELS].to_numpy(), by_path[LABELS].to_numpy(), rtol=1e-5, atol=1e-6)
    assert table["top_labels"].tolist() == by_path["top_labels"].tolist()
    assert catalog.load("predictions_csv")["top_labels"][0].count(" | ") == 1
    labels = catalog.load("prediction_labels")
    assert labels["policy"].tolist() == ["similarity", "training", "similarity", "training"]
    assert catalog.load("prediction_contact_sheet").axes

    shards = sorted((tmp_path / "cache").rglob("*.parquet"))
    assert len(shards) == 2  # 5 readable images, shards of >= 4 (batches of 2): nothing is encoded twice
    again = _catalog(trained, folder, tmp_path / "cache", LABELS)
    SequentialRunner().run(create_pipeline(), again)
    assert sorted((tmp_path / "cache").rglob("*.parquet")) == shards
    pd.testing.assert_frame_equal(again.load("predictions"), table)


def test_label_names_from_a_file_a_string_or_a_list(tmp_path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("# my labels\nzebra\n\n fire truck \n")
    assert read_label_names(str(path)) == ["zebra", "fire truck"]
    assert read_label_names("zebra,fire truck") == ["zebra", "fire truck"]
    assert read_label_names("zebra|fire truck|kite") == ["zebra", "fire truck", "kite"]
    assert read_label_names(["a", "b"]) == ["a", "b"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no label"):
        read_label_names(str(tmp_path / "empty.txt"))


def test_no_image_and_bad_labels_are_clear_errors(trained, tmp_path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "one.png")
    from kedro.runner import SequentialRunner as Runner

    with pytest.raises(Exception, match="no image file"):
        Runner().run(create_pipeline(), _catalog(trained, tmp_path / "none", tmp_path / "c", LABELS))
    with pytest.raises(Exception, match="duplicates"):
        Runner().run(create_pipeline(), _catalog(trained, tmp_path, tmp_path / "c", ["cat", "CAT"]))
