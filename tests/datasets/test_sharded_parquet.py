import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kedro.io import DatasetError

from ovmlr.datasets import ShardedParquetDataset


def test_shards_append_and_load_in_order(tmp_path):
    ds = ShardedParquetDataset(str(tmp_path / "cache"), columns=["k", "v"])
    assert ds.load().columns.tolist() == ["k", "v"] and not ds.exists()
    ds.save(pd.DataFrame({"k": ["a"], "v": [1]}))
    ds.save(pd.DataFrame({"k": ["b", "c"], "v": [2, 3]}))
    ds.save(pd.DataFrame({"k": [], "v": []}))  # nothing to add: no empty shard
    assert len(ds.shard_paths()) == 2
    assert ds.load()["k"].tolist() == ["a", "b", "c"]


def test_text_is_stored_alike_whatever_its_pandas_dtype(tmp_path):
    ds = ShardedParquetDataset(str(tmp_path / "cache"))
    ds.save(pd.DataFrame({"k": pd.Series(["a"], dtype=object), "n": [1]}))
    ds.save(pd.DataFrame({"k": pd.Series(["b"], dtype="str"), "n": [2]}))
    types = {pq.read_schema(p).field("k").type for p in ds.shard_paths()}
    assert types == {pa.large_string()}
    assert ds.load()["k"].tolist() == ["a", "b"]


def test_a_cache_with_string_and_large_string_shards_still_loads(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    pq.write_table(pa.table({"k": pa.array(["a"], pa.string())}), folder / "part-1.parquet")
    pq.write_table(pa.table({"k": pa.array(["b"], pa.large_string())}), folder / "part-2.parquet")
    assert ShardedParquetDataset(str(folder)).load()["k"].tolist() == ["a", "b"]


def test_a_truncated_shard_is_named_with_what_to_do(tmp_path):
    dataset = ShardedParquetDataset(str(tmp_path / "cache"))
    dataset.save(pd.DataFrame({"key": ["a", "b"], "value": [1.0, 2.0]}))
    (shard,) = dataset.shard_paths()
    assert pq.ParquetFile(shard).metadata.num_rows == 2
    shard.write_bytes(shard.read_bytes()[:-20])
    with pytest.raises(DatasetError, match=f"{shard.name}.*delete this shard and rerun"):
        dataset.load()
