"""Custom Kedro datasets of ovmlr (persistence lives here, never in nodes)."""

from .sharded_parquet import ShardedParquetDataset

__all__ = ["ShardedParquetDataset"]
