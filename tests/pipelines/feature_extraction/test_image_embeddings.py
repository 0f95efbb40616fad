"""Image embedding extraction: cold / warm / resumed runs, changed backbone, corrupt images."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from ovmlr.backbones import BackboneSpec, encode_image_tokens, load_backbone
from ovmlr.backbones.images import decode_image
from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.pipelines.feature_extraction.nodes import (
    extract_image_embeddings,
    hash_images,
    index_image_features,
)

EMPTY_INDEX = pd.DataFrame(columns=["path", "size", "mtime_ns", "image_key"])


def _hashes(manifest, params) -> pd.DataFrame:
    return hash_images(manifest, EMPTY_INDEX, params)[0]


def run_extraction(manifest, cache, spec, params, stop_after=None) -> int:
    """Run the generator node, saving every chunk like Kedro does; optionally stop after k chunks (crash)."""
    hashes = _hashes(manifest, params)
    saved = 0
    for chunk in extract_image_embeddings(hashes, cache.load(), spec, params):
        cache.save(chunk)
        saved += len(chunk.image_keys)
        if stop_after is not None and saved >= stop_after:
            break
    return saved


def reference_features(manifest, spec, tmp_path):
    loaded = load_backbone(BackboneSpec.from_dict(spec))
    images = torch.stack([loaded.preprocess(decode_image(str(tmp_path / p))) for p in manifest["path"]])
    with torch.inference_mode():
        return [t.numpy() for t in encode_image_tokens(loaded.model.visual, images)]


def test_hash_images_keys_are_content_hashes_and_missing_files_are_reported(manifest, params, tmp_path):
    manifest.loc[len(manifest)] = {"image_id": "gone", "path": "images/gone.png", "split": "test"}
    hashes = _hashes(manifest, params)
    expected = hashlib.sha256((tmp_path / "images" / "3.png").read_bytes()).hexdigest()
    assert hashes.loc[3, "image_key"] == expected
    assert hashes.loc[7, "image_key"] is None and hashes.loc[7, "error"] == "missing file"


def test_only_files_changed_since_last_hashed_are_read_again(manifest, params, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    first, index = hash_images(manifest, EMPTY_INDEX, params)
    assert "Hashed 7 of 7" in caplog.text and len(index) == 7
    assert index["size"].tolist() == [(tmp_path / p).stat().st_size for p in manifest["path"]]
    (tmp_path / "images" / "5.png").write_bytes((tmp_path / "images" / "0.png").read_bytes())  # new content
    caplog.clear()
    second, new_rows = hash_images(manifest, index, params)
    assert "Hashed 1 of 7" in caplog.text
    assert new_rows["path"].tolist() == [str(tmp_path / "images" / "5.png")]
    assert second.loc[5, "image_key"] == first.loc[0, "image_key"] != first.loc[5, "image_key"]
    assert second.drop(index=5).equals(first.drop(index=5))


def test_duplicated_image_ids_are_refused(manifest, params):
    manifest.loc[1, "image_id"] = manifest.loc[0, "image_id"]
    with pytest.raises(ValueError, match="duplicated image_id values: \\['test_00000'\\]"):
        _hashes(manifest, params)


def test_cold_run_caches_every_image_and_warm_run_computes_none(
    manifest, cache, spec, params, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    assert run_extraction(manifest, cache, spec, params) == 7
    assert "7 new images" in caplog.text
    shards = sorted((tmp_path / "cache" / spec["backbone_id"]).glob("part-*.parquet"))
    assert len(shards) == 2  # chunk_size 3 in whole batches of 2: 4 + 3
    caplog.clear()
    assert run_extraction(manifest, cache, spec, params) == 0
    assert "0 new images" in caplog.text
    assert sorted((tmp_path / "cache" / spec["backbone_id"]).glob("part-*.parquet")) == shards
    keys = _hashes(manifest, params)["image_key"].tolist()
    global_feats, patches = cache.load().load(keys)
    ref_global, ref_patches = reference_features(manifest, spec, tmp_path)
    np.testing.assert_allclose(global_feats, ref_global, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(patches, ref_patches, rtol=1e-5, atol=1e-5)
    assert patches.shape == (7, 4, 16)


def test_an_interrupted_run_resumes_with_only_the_rest(manifest, cache, spec, params, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert run_extraction(manifest, cache, spec, params, stop_after=1) == 4  # crash after the first chunk
    caplog.clear()
    assert run_extraction(manifest, cache, spec, params) == 3
    assert "3 new images" in caplog.text
    clean = EmbeddingCacheDataset(str(tmp_path / "clean"), cache._spec_path)
    run_extraction(manifest, clean, spec, params)
    keys = _hashes(manifest, params)["image_key"].tolist()
    for resumed, fresh in zip(cache.load().load(keys), clean.load().load(keys), strict=True):
        np.testing.assert_array_equal(resumed, fresh)


def test_a_changed_backbone_never_reads_the_old_cache(
    manifest, cache, spec, spec_file, spec_factory, params, tmp_path
):
    run_extraction(manifest, cache, spec, params)
    other = spec_factory(seed=1)
    spec_file.write_text(json.dumps(other))
    assert run_extraction(manifest, cache, other, params) == 7
    assert other["backbone_id"] != spec["backbone_id"]
    keys = _hashes(manifest, params)["image_key"].tolist()
    old = EmbeddingCacheDataset(str(tmp_path / "cache"), str(spec_file)).load()
    assert old.backbone_id == other["backbone_id"]
    assert not np.allclose(old.load(keys)[0], reference_features(manifest, spec, tmp_path)[0])


def test_a_cache_opened_for_another_backbone_is_refused(manifest, cache, spec_factory, params):
    hashes = _hashes(manifest, params)
    with pytest.raises(ValueError, match="cache of backbone .* but the backbone spec is"):
        next(extract_image_embeddings(hashes, cache.load(), spec_factory(seed=5), params))


def test_a_corrupt_image_is_reported_and_not_retried(manifest, cache, spec, params, tmp_path, caplog):
    (tmp_path / "images" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    caplog.set_level(logging.INFO)
    assert run_extraction(manifest, cache, spec, params) == 7
    image_keys, report = index_image_features(_hashes(manifest, params), cache.load())
    assert report["image_id"].tolist() == ["test_00002"]
    assert report.loc[0, "reason"] == "undecodable: OSError: Truncated File Read"
    assert "test_00002" not in image_keys["image_id"].tolist() and len(image_keys) == 6
    caplog.clear()
    assert run_extraction(manifest, cache, spec, params) == 0
    assert "0 new images" in caplog.text
