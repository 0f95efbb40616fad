"""An append-only folder of parquet shards: the storage behind incremental caches.

Each ``save`` writes one new shard atomically (to a temporary name, then ``os.replace``), so a crash
mid-run leaves only complete shards and a re-run resumes from them. Used with Kedro generator nodes:
every chunk a node yields becomes one shard, saved as soon as it is yielded.

Shards carry parquet page checksums (CRC-32 of every page, written and verified by Arrow: cheap), so a
shard that rotted on disk (truncated, a flipped bit) is an error naming it, never silently wrong data;
deleting that one shard and re-running computes only its rows again.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

SHARD_GLOB = "part-*.parquet"
DAMAGED_SHARD_ADVICE = "delete this shard and rerun: only its rows are computed again"


def read_shard(path: Path, columns: list[str] | None = None) -> pa.Table:
    """One shard, its page checksums verified.

    Raises:
        DatasetError: Naming the shard and what to do when it cannot be read (truncated, corrupt).
    """
    try:
        return pq.read_table(path, columns=columns, page_checksum_verification=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise DatasetError(f"Cannot read cache shard '{path}' ({exc}): {DAMAGED_SHARD_ADVICE}") from exc


def large_text(table: pa.Table) -> pa.Table:
    """``string`` columns as ``large_string`` (pandas 3's text type), so every shard stores text alike.

    An object column of Python strings becomes ``string`` in Arrow, a pandas ``str`` column
    ``large_string``; the same cache saved from both kinds of DataFrame would otherwise hold two types for
    one column. Applied to saved DataFrames only: an Arrow table keeps the schema its writer chose.
    """
    fields = [
        pa.field(f.name, pa.large_string(), f.nullable, f.metadata) if pa.types.is_string(f.type) else f
        for f in table.schema
    ]
    schema = pa.schema(fields, metadata=table.schema.metadata)
    return table if schema.equals(table.schema) else table.cast(schema)


class ShardedParquetDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A directory of parquet shards that grows by whole shards.

    Example catalog entry::

        llm_response_cache:
          type: ovmlr.datasets.ShardedParquetDataset
          path: data/02_intermediate/llm_responses

    Args:
        path: Directory holding the shards (created on first save).
        columns: Columns of the empty frame returned when there is no shard yet.
        load_args: Passed to ``pyarrow.parquet.read_table`` (e.g. ``columns``).
        save_args: Passed to ``pyarrow.parquet.write_table`` (e.g. ``compression``).
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self,
        path: str,
        columns: list[str] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = Path(path)
        self._columns = list(columns or [])
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    @property
    def path(self) -> Path:
        return self._path

    def shard_paths(self) -> list[Path]:
        """Complete shards, oldest first (temporary files of an interrupted save are never listed)."""
        if not self._path.exists():
            return []
        return sorted(self._path.glob(SHARD_GLOB))

    def load_table(self, columns: list[str] | None = None) -> pa.Table | None:
        """All shards as one Arrow table (``None`` when there is no shard)."""
        shards = self.shard_paths()
        if not shards:
            return None
        cols = columns if columns is not None else self._load_args.get("columns")
        tables = [read_shard(shard, cols) for shard in shards]
        # "permissive": shards written by different code paths may store text as string or large_string.
        return pa.concat_tables(tables, promote_options="permissive")

    def _load(self) -> pd.DataFrame:
        table = self.load_table()
        if table is None:
            return pd.DataFrame(columns=self._columns)
        return table.to_pandas()

    def _save(self, data: pd.DataFrame | pa.Table) -> None:
        if isinstance(data, pa.Table):
            table = data  # typed by the caller: stored as it is
        else:
            table = large_text(pa.Table.from_pandas(data, preserve_index=False))
        if table.num_rows == 0:
            return
        self._path.mkdir(parents=True, exist_ok=True)
        name = f"part-{pd.Timestamp.now('UTC').strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.parquet"
        final = self._path / name
        tmp = self._path / f".{name}.tmp"
        pq.write_table(table, tmp, **({"write_page_checksum": True} | self._save_args))
        os.replace(tmp, final)

    def _exists(self) -> bool:
        return bool(self.shard_paths())

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "shards": len(self.shard_paths())}
