"""The Ray Data engine on a local 2-worker Ray instance (CPU): the cache equals the local engine's, a warm run
encodes nothing, and a bad engine configuration is refused before any work."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deadline import deadline

from ovmlr.backbones.ray_engine import RayConfig, ShardEncoder, check_engine
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


class _DiesOnItsFirstShard(ShardEncoder):
    """The engine's actor, except that the first call of the whole run SIGKILLs its own process (once: the
    marker file named by ``OVMLR_TEST_KILL_MARKER`` records the victim's pid and shard)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        marker = Path(os.environ["OVMLR_TEST_KILL_MARKER"])
        if not marker.exists():
            marker.write_text(f"pid {os.getpid()} shard {int(batch['shard'][0])}")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


@pytest.mark.slow
def test_an_encoder_actor_killed_mid_shard_is_retried_and_the_cache_ends_complete(
    manifest, spec, spec_file, params, tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("ray.data")
    from ray import cloudpickle

    from ovmlr.backbones import ray_engine

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors import no test module
    marker = tmp_path / "killed"
    monkeypatch.setenv("OVMLR_TEST_KILL_MARKER", str(marker))  # a local Ray instance's workers inherit it
    monkeypatch.setattr(ray_engine, "ShardEncoder", _DiesOnItsFirstShard)
    keys = hash_images(manifest, EMPTY_INDEX, params)[0]["image_key"].tolist()
    local = EmbeddingCacheDataset(str(tmp_path / "local"), str(spec_file))
    assert _extract(manifest, local, spec, params) == 7
    distributed = EmbeddingCacheDataset(str(tmp_path / "ray"), str(spec_file))
    ray_params = params | {"engine": "ray", "ray": {"num_workers": 2, "num_cpus": 2, "max_task_retries": 2}}
    started = time.monotonic()
    with deadline(300, "the Ray extraction with a killed actor"):
        assert _extract(manifest, distributed, spec, ray_params) == 7  # every image once, none twice
    print(f"killed {marker.read_text()}; extraction done in {time.monotonic() - started:.1f} s")
    assert marker.read_text().startswith("pid ")  # the kill happened
    shards = sorted((tmp_path / "ray" / spec["backbone_id"]).glob("part-*.parquet"))
    written = [key for shard in shards for key in pd.read_parquet(shard, columns=["image_key"])["image_key"]]
    assert sorted(written) == sorted(set(keys))  # no image missing, none written twice
    (g_local, p_local), (g_ray, p_ray) = local.load().load(keys), distributed.load().load(keys)
    np.testing.assert_allclose(g_ray, g_local, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p_ray, p_local, rtol=1e-5, atol=1e-6)
    assert _extract(manifest, distributed, spec, ray_params) == 0  # warm rerun: nothing encoded


@pytest.mark.slow
def test_an_actor_killed_without_retries_fails_naming_the_shard_and_a_rerun_completes(
    manifest, spec, spec_file, params, tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("ray.data")
    from ray import cloudpickle

    from ovmlr.backbones import ray_engine

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    monkeypatch.setenv("OVMLR_TEST_KILL_MARKER", str(marker))
    monkeypatch.setattr(ray_engine, "ShardEncoder", _DiesOnItsFirstShard)
    cache = EmbeddingCacheDataset(str(tmp_path / "ray"), str(spec_file))
    ray_params = params | {"engine": "ray", "ray": {"num_workers": 1, "num_cpus": 2, "max_task_retries": 0}}
    with deadline(400, "the Ray extraction without retries and its rerun"):
        with pytest.raises(
            RuntimeError, match=r"max_task_retries=0 \(ActorDiedError\): shard 0 \(first image"
        ):
            _extract(manifest, cache, spec, ray_params)
        assert marker.exists()  # the kill happened; the rerun's actors live
        assert _extract(manifest, cache, spec, ray_params) == 7  # the rerun encodes what was not written
