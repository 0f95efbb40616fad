"""EmbeddingCacheDataset: per-backbone folders, ordered contiguous float32 loads, errors naming keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
from kedro.io import DatasetError

from ovmlr.core.features import EmbeddingChunk
from ovmlr.datasets import EmbeddingCacheDataset


def _spec_file(tmp_path, backbone_id: str):
    path = tmp_path / f"spec_{backbone_id}.json"
    path.write_text(json.dumps({"backbone_id": backbone_id}))
    return str(path)


def _chunk(backbone_id: str, keys: list[str], seed: int, errors=None, dim: int = 4) -> EmbeddingChunk:
    rng = np.random.default_rng(seed)
    n = len(keys)
    return EmbeddingChunk(
        backbone_id,
        keys,
        rng.standard_normal((n, dim)).astype(np.float32),
        rng.standard_normal((n, 3, dim)).astype(np.float32),
        errors or [None] * n,
    )


def test_load_returns_features_in_the_order_asked_as_contiguous_float32(tmp_path):
    dataset = EmbeddingCacheDataset(str(tmp_path / "cache"), _spec_file(tmp_path, "b1"))
    first, second = _chunk("b1", ["a", "b", "c"], 0), _chunk("b1", ["d", "e"], 1)
    dataset.save(first)
    dataset.save(second)
    global_feats, patches = dataset.load().load(["e", "a", "c", "a"])
    assert global_feats.dtype == patches.dtype == np.float32
    assert global_feats.flags.c_contiguous and patches.flags.c_contiguous
    np.testing.assert_array_equal(
        global_feats, np.stack([second.global_feats[1], *first.global_feats[[0, 2, 0]]])
    )
    np.testing.assert_array_equal(patches[1], first.patch_feats[0])
    np.testing.assert_array_equal(dataset.load().load_global(["e", "a"]), global_feats[:2])
    files = sorted(p.name for p in (tmp_path / "cache" / "b1").iterdir())
    assert len(files) == 2 and all(f.startswith("part-") and f.endswith(".parquet") for f in files)


def test_float16_storage_halves_the_size_and_rounds_slightly(tmp_path):
    sizes = {}
    for dtype in ("float32", "float16"):
        dataset = EmbeddingCacheDataset(
            str(tmp_path / dtype), _spec_file(tmp_path, "b1"), storage_dtype=dtype
        )
        chunk = _chunk("b1", [f"k{i}" for i in range(100)], 0, dim=64)
        dataset.save(chunk)
        sizes[dtype] = sum(p.stat().st_size for p in (tmp_path / dtype / "b1").iterdir())
        global_feats, _ = dataset.load().load(["k7"])
        np.testing.assert_allclose(global_feats[0], chunk.global_feats[7], rtol=1e-3, atol=1e-3)
    assert sizes["float16"] < 0.6 * sizes["float32"]


def test_shards_of_both_dtypes_load_together(tmp_path):
    spec = _spec_file(tmp_path, "b1")
    EmbeddingCacheDataset(str(tmp_path / "c"), spec, storage_dtype="float16").save(_chunk("b1", ["a"], 0))
    EmbeddingCacheDataset(str(tmp_path / "c"), spec, storage_dtype="float32").save(_chunk("b1", ["b"], 1))
    global_feats, patches = EmbeddingCacheDataset(str(tmp_path / "c"), spec).load().load(["b", "a"])
    assert global_feats.shape == (2, 4) and patches.shape == (2, 3, 4)


def test_missing_and_failed_keys_are_named(tmp_path):
    dataset = EmbeddingCacheDataset(str(tmp_path / "cache"), _spec_file(tmp_path, "b1"))
    dataset.save(_chunk("b1", ["a", "bad"], 0, errors=[None, "undecodable: truncated"]))
    store = dataset.load()
    with pytest.raises(KeyError, match=r"not cached for backbone b1: \['zz'\]"):
        store.load(["a", "zz"])
    with pytest.raises(KeyError, match="bad: undecodable: truncated"):
        store.load(["bad"])
    assert store.status().set_index("image_key")["error"].to_dict() == {
        "a": None,
        "bad": "undecodable: truncated",
    }


def test_each_backbone_has_its_own_cache(tmp_path):
    root = str(tmp_path / "cache")
    EmbeddingCacheDataset(root, _spec_file(tmp_path, "b1")).save(_chunk("b1", ["a"], 0))
    store_b2 = EmbeddingCacheDataset(root, _spec_file(tmp_path, "b2")).load()
    assert store_b2.backbone_id == "b2" and store_b2.status().empty
    with pytest.raises(KeyError, match="not cached for backbone b2"):
        store_b2.load(["a"])


def test_an_empty_chunk_writes_no_shard(tmp_path):
    dataset = EmbeddingCacheDataset(str(tmp_path / "cache"), _spec_file(tmp_path, "b1"))
    dataset.save(EmbeddingChunk.empty("b1", 4, 3))
    assert not (tmp_path / "cache").exists()


def test_a_corrupt_shard_is_named(tmp_path):
    dataset = EmbeddingCacheDataset(str(tmp_path / "cache"), _spec_file(tmp_path, "b1"))
    dataset.save(_chunk("b1", ["a"], 0))
    (tmp_path / "cache" / "b1" / "part-zzz.parquet").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="part-zzz.parquet"):
        dataset.load().load(["a"])


def test_a_rotted_shard_is_named_with_what_to_do_and_deleting_it_loses_only_its_rows(tmp_path):
    dataset = EmbeddingCacheDataset(str(tmp_path / "cache"), _spec_file(tmp_path, "b1"))
    dataset.save(_chunk("b1", ["a", "b"], 0))
    chunk = _chunk("b1", ["c"], 1)
    chunk.global_feats[0, 1] = 1.25  # a value to find in the file
    dataset.save(chunk)
    shard = sorted((tmp_path / "cache" / "b1").glob("part-*.parquet"))[1]
    data = bytearray(shard.read_bytes())
    at = data.find(np.float32(1.25).tobytes())
    data[at + 3] ^= 0x01  # one flipped bit in a feature value: the page checksum differs
    shard.write_bytes(bytes(data))
    store = dataset.load()
    with pytest.raises(DatasetError, match=f"{shard.name}.*delete this shard and rerun"):
        store.load(["c"])
    shard.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(DatasetError, match=f"{shard.name}.*delete this shard and rerun"):
        store.status()
    shard.unlink()
    assert store.status()["image_key"].tolist() == ["a", "b"]  # the other shard's rows are kept


def test_a_missing_spec_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="Cannot read the backbone spec"):
        EmbeddingCacheDataset(str(tmp_path / "cache"), str(tmp_path / "nope.json")).load()


def test_chunk_shapes_are_checked():
    with pytest.raises(ValueError, match="global must be"):
        EmbeddingChunk("b1", ["a"], np.zeros((1, 4, 1)), np.zeros((1, 3, 4)), [None])
