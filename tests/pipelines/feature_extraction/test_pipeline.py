"""The feature_extraction pipeline on an in-memory catalog with a real embedding cache, run twice."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from ovmlr.datasets import EmbeddingCacheDataset, ShardedParquetDataset
from ovmlr.pipelines.feature_extraction import create_pipeline


def _catalog(tmp_path, manifest, spec, spec_file, params) -> DataCatalog:
    labels = pd.DataFrame({"image_id": manifest["image_id"], "coat": 1, "bag": [1, 0, 0, 1, 0, 1, 0]})
    cache = {"path": str(tmp_path / "cache"), "backbone_spec_filepath": str(spec_file)}
    hashes = {"path": str(tmp_path / "hashes"), "columns": ["path", "size", "mtime_ns", "image_key"]}
    return DataCatalog(
        {
            "image_manifest": MemoryDataset(manifest),
            "categories": MemoryDataset(pd.DataFrame({"category_id": [0, 1], "name": ["coat", "bag"]})),
            "category_split": MemoryDataset(
                pd.DataFrame({"category_id": [0, 1], "name": ["coat", "bag"], "role": ["seen", "unseen"]})
            ),
            "test_labels": MemoryDataset(labels),
            "backbone_spec": MemoryDataset(spec),
            "params:feature_extraction": MemoryDataset(params),
            "params:feature_extraction.zero_shot_top_k": MemoryDataset([1]),
            "image_file_hashes_index": ShardedParquetDataset(**hashes),
            "image_file_hashes": ShardedParquetDataset(**hashes),
            "image_embedding_index": EmbeddingCacheDataset(**cache),
            "image_embeddings": EmbeddingCacheDataset(**cache),
            "image_keys": ParquetDataset(filepath=str(tmp_path / "image_keys.parquet")),
            "image_feature_report": ParquetDataset(filepath=str(tmp_path / "report.parquet")),
            "text_features": ParquetDataset(filepath=str(tmp_path / "text_features.parquet")),
            "backbone_zero_shot_metrics": MemoryDataset(),
        }
    )


def test_pipeline_fills_the_cache_once(tmp_path, manifest, spec, spec_file, params, caplog):
    caplog.set_level(logging.INFO)
    catalog = _catalog(tmp_path, manifest, spec, spec_file, params)
    SequentialRunner().run(create_pipeline(), catalog)
    assert "7 new images" in caplog.text
    image_keys = catalog.load("image_keys")
    assert image_keys["image_id"].tolist() == manifest["image_id"].tolist()
    assert catalog.load("image_feature_report").empty
    global_feats, patches = catalog.load("image_embeddings").load(image_keys["image_key"].tolist())
    assert global_feats.shape == (7, 16) and patches.shape == (7, 4, 16)
    assert 0.0 <= catalog.load("backbone_zero_shot_metrics")["zsl/mAP"]["value"] <= 1.0
    text_features = catalog.load("text_features")  # the parquet round trip keeps float32 vectors
    assert np.stack(text_features["embedding"].to_numpy()).shape == (2 * 3, 16)

    caplog.clear()
    catalog = _catalog(tmp_path, manifest, spec, spec_file, params)
    SequentialRunner().run(create_pipeline(), catalog)
    assert "0 new images" in caplog.text and "Hashed 0 of 7" in caplog.text
    again, _ = catalog.load("image_embeddings").load(image_keys["image_key"].tolist())
    np.testing.assert_array_equal(again, global_feats)
