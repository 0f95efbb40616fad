"""A table in one local file (parquet or CSV), written whole or not at all.

Kedro's pandas datasets write the file in place: a run killed while it writes leaves half a table, which the
next reader takes for the result or fails on without saying why. This dataset writes beside the file
(``.<name>.tmp``), then swaps it in with ``os.replace`` (atomic on one filesystem): the file on disk is always
the previous complete table or the new one. A file that still cannot be read (damaged on disk, or written by
another tool) is an error naming it and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

_READERS = {".parquet": pd.read_parquet, ".csv": pd.read_csv}
DAMAGED_ADVICE = "delete it and rerun the pipeline that writes it"


class AtomicTableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A pandas DataFrame as one ``.parquet`` or ``.csv`` file (by its suffix), replaced atomically on save.

    Example catalog entry::

        predictions:
          type: ovmlr.datasets.AtomicTableDataset
          filepath: data/07_model_output/predictions.parquet

    Args:
        filepath: The local file (``.parquet`` or ``.csv``).
        load_args: Passed to ``pandas.read_parquet`` / ``pandas.read_csv``.
        save_args: Passed to ``DataFrame.to_parquet`` / ``DataFrame.to_csv``.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = Path(filepath)
        if self._path.suffix not in _READERS:
            raise DatasetError(f"AtomicTableDataset: '{filepath}' must end in one of {sorted(_READERS)}")
        self._load_args, self._save_args = dict(load_args or {}), dict(save_args or {})
        self.metadata = metadata

    def _load(self) -> pd.DataFrame:
        try:
            return _READERS[self._path.suffix](self._path, **self._load_args)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - every reader's own error, re-raised with the file named
            raise DatasetError(f"'{self._path}' cannot be read ({exc}): {DAMAGED_ADVICE}") from exc

    def _save(self, data: pd.DataFrame) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(f".{self._path.name}.tmp")
        try:
            if self._path.suffix == ".parquet":
                data.to_parquet(tmp, **self._save_args)
            else:
                data.to_csv(tmp, **self._save_args)
            os.replace(tmp, self._path)
        finally:
            tmp.unlink(missing_ok=True)

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "load_args": self._load_args, "save_args": self._save_args}
