"""The image embedding cache: per backbone, per image content hash, a global feature and patch features.

Layout: ``<path>/<backbone_id>/part-*.parquet``, one :class:`~ovmlr.datasets.ShardedParquetDataset` per
backbone, so a changed backbone gets its own folder and caches are never mixed. Each save (one chunk
yielded by the extraction node) appends one atomically written shard; an interrupted run leaves complete
shards only and the next run computes just the missing images.

Shard schema: ``image_key`` (string), ``global`` (fixed_size_list<D>), ``patches``
(fixed_size_list<P*D>: the ``[P, D]`` matrix row-major), ``error`` (string, null when the image was
encoded); features non-nullable, which makes parquet skip definition levels (reading is ~5x faster than
nested nullable lists). Features are stored as ``storage_dtype`` (float16 halves the size) and always
loaded as contiguous float32 arrays by flattening the fixed-size lists and reshaping - no per-row loop.
An image that could not be decoded is recorded with its ``error`` (and zero placeholder features), so it
is reported without being retried on every run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from kedro.io import AbstractDataset, DatasetError

from ovmlr.core.features import EmbeddingChunk

from .sharded_parquet import ShardedParquetDataset, read_shard

_DTYPES = {"float32": pa.float32(), "float16": pa.float16()}


def _vector_type(dtype: pa.DataType, size: int) -> pa.DataType:
    """``fixed_size_list<dtype not null>[size]``: one feature vector (non-nullable: no definition levels)."""
    return pa.list_(pa.field("element", dtype, nullable=False), size)


def _vectors(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """One fixed-size list per row of ``values`` ``[N, ...]``, over its flattened values."""
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1)).cast(dtype)
    return pa.FixedSizeListArray.from_arrays(flat, type=_vector_type(dtype, int(np.prod(values.shape[1:]))))


def shard_schema(dtype: pa.DataType, dim: int, num_patches: int) -> pa.Schema:
    """Schema of a shard: ``patches`` holds the ``P * D`` values of ``[P, D]`` row-major in one list."""
    return pa.schema(
        [
            pa.field("image_key", pa.string(), nullable=False),
            pa.field("global", _vector_type(dtype, dim), nullable=False),
            pa.field("patches", _vector_type(dtype, num_patches * dim), nullable=False),
            pa.field("error", pa.string()),
        ]
    )


def chunk_to_table(chunk: EmbeddingChunk, storage_dtype: str) -> pa.Table:
    """The Arrow table of one shard."""
    dtype = _DTYPES[storage_dtype]
    failed = np.array([e is not None for e in chunk.errors], dtype=bool)
    global_feats, patch_feats = chunk.global_feats, chunk.patch_feats
    if failed.any():
        global_feats, patch_feats = global_feats.copy(), patch_feats.copy()
        global_feats[failed], patch_feats[failed] = 0.0, 0.0  # placeholders; the error column marks them
    columns = [
        pa.array(list(chunk.image_keys), type=pa.string()),
        _vectors(global_feats, dtype),
        _vectors(patch_feats, dtype),
        pa.array(list(chunk.errors), type=pa.string()),
    ]
    _, num_patches, dim = patch_feats.shape
    return pa.Table.from_arrays(columns, schema=shard_schema(dtype, dim, num_patches))


def _scatter(values: np.ndarray, src: np.ndarray, target: np.ndarray, dest: np.ndarray) -> None:
    """``target[dest] = values[src]``, in one copy when ``dest`` is a contiguous run (the usual case)."""
    if len(dest) and dest[-1] - dest[0] + 1 == len(dest) and values.dtype == target.dtype:
        np.take(values, src, axis=0, out=target[dest[0] : dest[-1] + 1])
    else:
        target[dest] = values[src]


def _vector_rows(column: pa.ChunkedArray) -> np.ndarray:
    """A fixed-size-list column as ``[rows, size]`` (float16 or float32; zero-copy when possible)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    size = array.type.list_size
    return array.flatten().to_numpy(zero_copy_only=False).reshape(-1, size)


# Feature vectors are nearly incompressible floats: snappy saves ~1 % of the space and costs more time than
# the rest of a shard's save, so shards are uncompressed by default; dictionary encoding and column
# statistics (useless for unique keys and float vectors) are off.
SHARD_WRITE_OPTIONS = {"use_dictionary": False, "write_statistics": False}


class EmbeddingStore:
    """Read access to the cached embeddings of one backbone (what the ``image_embeddings`` dataset loads).

    Args:
        folder: ``<cache root>/<backbone_id>``.
        backbone_id: The backbone whose embeddings these are.
    """

    def __init__(self, folder: Path, backbone_id: str) -> None:
        self.folder = Path(folder)
        self.backbone_id = backbone_id
        self._shards = ShardedParquetDataset(str(folder))

    def __repr__(self) -> str:
        return f"EmbeddingStore(backbone_id={self.backbone_id!r}, shards={len(self._shards.shard_paths())})"

    def status(self) -> pd.DataFrame:
        """Every cached key with its ``error`` (``None`` when encoded), first occurrence per key."""
        table = self._shards.load_table(columns=["image_key", "error"])
        if table is None:
            return pd.DataFrame({"image_key": pd.Series(dtype=str), "error": pd.Series(dtype=object)})
        frame = table.to_pandas().drop_duplicates("image_key", keep="first").reset_index(drop=True)
        return frame.astype({"error": object}).where(frame.notna(), None)

    def _shard_rows(self, shard: Path, wanted: pa.Array, features: list[str]) -> pa.Table | None:
        """``image_key``, ``error`` and ``features`` of a shard, or ``None`` when it holds no wanted key."""
        hits = pc.is_in(read_shard(shard, ["image_key"])["image_key"], value_set=wanted)
        if not pc.any(hits).as_py():
            return None
        return read_shard(shard, ["image_key", "error", *features])

    def _gather(self, keys: pd.Index, features: list[str]) -> dict[str, np.ndarray]:
        """Rows ``[N, size]`` of each feature column for ``keys``, in their order (first occurrence wins).

        Each shard holding wanted keys is read once; its rows are copied straight into the output with one
        numpy gather per shard and column (no Arrow ``take`` / ``concat`` copies, no per-row loop).
        """
        out: dict[str, np.ndarray] = {}
        filled, errors = (
            np.zeros(len(keys), dtype=bool),
            pd.Series(None, index=range(len(keys)), dtype=object),
        )
        wanted = pa.array(keys.unique().tolist(), type=pa.string())
        for shard in self._shards.shard_paths():
            table = self._shard_rows(shard, wanted, features)
            if table is None:
                continue
            shard_keys = pd.Index(table["image_key"].to_pylist())
            dest = np.flatnonzero(~filled & keys.isin(shard_keys))
            src = shard_keys.drop_duplicates().get_indexer(keys[dest])
            errors.iloc[dest] = np.asarray(table["error"].to_pylist(), dtype=object)[src]
            for name in features:
                values = _vector_rows(table[name])  # [rows of the shard, size], a view of the Arrow buffer
                target = out.setdefault(name, np.empty((len(keys), values.shape[1]), dtype=np.float32))
                _scatter(values, src, target, dest)
            filled[dest] = True
        self._check(keys, filled, errors)
        return out

    def _check(self, keys: pd.Index, filled: np.ndarray, errors: pd.Series) -> None:
        """Raise for keys not cached, or cached as failed (up to 10 named)."""
        if not filled.all():
            missing = keys[~filled][:10].tolist()
            raise KeyError(
                f"{(~filled).sum()} image keys are not cached for backbone {self.backbone_id}: {missing}"
            )
        failed = errors.notna().to_numpy()
        if failed.any():
            named = [f"{k}: {e}" for k, e in zip(keys[failed], errors[failed], strict=True)]
            raise KeyError(f"{failed.sum()} requested images have no features (failed): {named[:10]}")

    def load(self, image_keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Features of ``image_keys``, in the order asked.

        Returns:
            ``(global [N, D], patches [N, P, D])``, contiguous float32.

        Raises:
            KeyError: Keys not in the cache of this backbone, or recorded as failed (named, up to 10).
        """
        keys = pd.Index(list(image_keys), dtype=object)
        if not len(keys):
            return np.zeros((0, 0), np.float32), np.zeros((0, 0, 0), np.float32)
        rows = self._gather(keys, ["global", "patches"])
        dim = rows["global"].shape[1]
        return rows["global"], rows["patches"].reshape(len(keys), -1, dim)

    def load_global(self, image_keys: Sequence[str]) -> np.ndarray:
        """Only the global features ``[N, D]`` of ``image_keys`` (patch columns are not read)."""
        keys = pd.Index(list(image_keys), dtype=object)
        if not len(keys):
            return np.zeros((0, 0), np.float32)
        return self._gather(keys, ["global"])["global"]


class EmbeddingStores:
    """The whole cache: one :class:`EmbeddingStore` per image encoder (what a spec-less dataset loads).

    Args:
        root: Root folder of the cache.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def store(self, encoder_id: str) -> EmbeddingStore:
        """The embeddings of one encoder (``<root>/<encoder_id>``; empty when nothing is cached yet)."""
        return EmbeddingStore(self.root / encoder_id, encoder_id)


class EmbeddingCacheDataset(AbstractDataset[EmbeddingChunk, EmbeddingStore]):
    """Sharded parquet cache of image embeddings, one folder per backbone.

    ``save`` takes an :class:`EmbeddingChunk` and appends one shard to ``<path>/<chunk.backbone_id>/``
    (empty chunks write nothing). ``load`` returns the :class:`EmbeddingStore` of the backbone named by the
    ``backbone_spec`` JSON file (read at load time, so a spec written earlier in the same run is used);
    without a spec file it returns :class:`EmbeddingStores`, the cache of every encoder (``predict`` keys it
    by the trained model's encoder).

    Example catalog entry::

        image_embeddings:
          type: ovmlr.datasets.EmbeddingCacheDataset
          path: ${globals:embedding_cache_dir}
          backbone_spec_filepath: ${globals:backbone_spec_path}
          storage_dtype: float32

    Args:
        path: Root folder of the cache.
        backbone_spec_filepath: The ``backbone_spec`` JSON whose ``backbone_id`` selects the folder to load.
        storage_dtype: ``float32`` or ``float16``, the on-disk feature type.
        compression: Parquet compression of the shards (``none``, ``snappy``, ``zstd``, ...).
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self,
        path: str,
        backbone_spec_filepath: str | None = None,
        storage_dtype: str = "float32",
        compression: str = "none",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if storage_dtype not in _DTYPES:
            raise DatasetError(f"storage_dtype must be one of {sorted(_DTYPES)}, got {storage_dtype!r}")
        self._root = Path(path)
        self._spec_path = Path(backbone_spec_filepath) if backbone_spec_filepath else None
        self._storage_dtype = storage_dtype
        self._compression = compression
        self.metadata = metadata

    def backbone_id(self) -> str:
        """The ``backbone_id`` of the spec file.

        Raises:
            DatasetError: The spec file is missing or has no ``backbone_id``.
        """
        try:
            backbone_id = json.loads(self._spec_path.read_text(encoding="utf-8")).get("backbone_id")
        except (OSError, ValueError) as exc:
            raise DatasetError(f"Cannot read the backbone spec '{self._spec_path}': {exc}") from exc
        if not backbone_id:
            raise DatasetError(f"Backbone spec '{self._spec_path}' has no backbone_id")
        return backbone_id

    def _load(self) -> EmbeddingStore | EmbeddingStores:
        if self._spec_path is None:
            return EmbeddingStores(self._root)
        backbone_id = self.backbone_id()
        return EmbeddingStore(self._root / backbone_id, backbone_id)

    def _save(self, data: EmbeddingChunk) -> None:
        if not isinstance(data, EmbeddingChunk):
            raise DatasetError(f"image embeddings: expected an EmbeddingChunk, got {type(data).__name__}")
        if len(data.image_keys):
            shards = ShardedParquetDataset(
                str(self._root / data.backbone_id),
                save_args=SHARD_WRITE_OPTIONS | {"compression": self._compression},
            )
            shards.save(chunk_to_table(data, self._storage_dtype))

    def _exists(self) -> bool:
        if self._spec_path is None:
            return self._root.is_dir()
        return self._spec_path.is_file() and (self._root / self.backbone_id()).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._root),
            "backbone_spec_filepath": str(self._spec_path) if self._spec_path else None,
            "storage_dtype": self._storage_dtype,
            "compression": self._compression,
        }
