"""The Ray Data engine on a local 2-worker Ray instance (CPU): the cache equals the local engine's, a warm run
encodes nothing, and a bad engine configuration is refused before any work."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ovmlr.backbones.ray_engine import RayConfig, check_engine
from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.pipelines.feature_extraction.nodes import extract_image_embeddings, hash_images

EMPTY_INDEX = pd.DataFrame(columns=["path", "size", "mtime_ns", "image_key"])


def _extract(manifest, cache, spec, params) -> int:
    hashes = hash_images(manifest, EMPTY_INDEX, params)[0]
    saved = 0
    for chunk in extract_image_embeddings(hashes, cache.load(), spec, params):
        cache.save(chunk)
        saved += len(chunk.image_keys)
    return saved


@pytest.mark.slow
def test_ray_engine_fills_the_same_cache_as_the_local_engine(
    manifest, spec, spec_file, params, tmp_path: Path, caplog
) -> None:
    pytest.importorskip("ray.data")
    keys = hash_images(manifest, EMPTY_INDEX, params)[0]["image_key"].tolist()
    local = EmbeddingCacheDataset(str(tmp_path / "local"), str(spec_file))
    assert _extract(manifest, local, spec, params) == 7
    distributed = EmbeddingCacheDataset(str(tmp_path / "ray"), str(spec_file))
    ray_params = params | {"engine": "ray", "ray": {"num_workers": 2, "num_cpus": 2}}
    assert _extract(manifest, distributed, spec, ray_params) == 7
    shards = sorted((tmp_path / "ray" / spec["backbone_id"]).glob("part-*.parquet"))
    assert len(shards) == 3  # chunk_size 3: shards of 3, 3 and 1 images, one file each
    for (g_local, p_local), (g_ray, p_ray) in [(local.load().load(keys), distributed.load().load(keys))]:
        np.testing.assert_allclose(g_ray, g_local, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p_ray, p_local, rtol=1e-5, atol=1e-6)
    caplog.set_level(logging.INFO)
    assert _extract(manifest, distributed, spec, ray_params) == 0  # warm run: Ray is not even started
    assert "0 new images" in caplog.text
    assert sorted((tmp_path / "ray" / spec["backbone_id"]).glob("part-*.parquet")) == shards


def test_bad_engine_configuration_is_refused(monkeypatch) -> None:
    with pytest.raises(ValueError, match="engine must be one of"):
        check_engine({"engine": "spark"})
    with pytest.raises(ValueError, match=r"unknown feature_extraction.ray parameter\(s\) \['workers'\]"):
        check_engine({"engine": "ray", "ray": {"workers": 2}})
    with pytest.raises(ValueError, match="num_workers must be >= 1"):
        RayConfig.from_params({"num_workers": 0})
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.startswith("ray") else real(name, *a)
    )
    with pytest.raises(
        ValueError, match=r"needs Ray Data, which is not installed: pip install -e '.\[scale\]'"
    ):
        check_engine({"engine": "ray"})
    check_engine({"engine": "local"})
