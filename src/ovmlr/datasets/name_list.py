"""A Kedro dataset for a text file of names, one per line (e.g. the unseen categories)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from ovmlr.data.names import read_lines, unique_names

from .read_only import ReadOnlyDataset


class NameListDataset(ReadOnlyDataset[list[str]]):
    """One name per line; blank lines and lines starting with ``#`` are skipped; repeats are an error.

    With ``filepath: null`` the dataset is explicitly unset and loads an empty list.

    Args:
        filepath: The text file, or None.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, filepath: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath) if filepath else None
        self.metadata = metadata

    def _load(self) -> list[str]:
        if self._filepath is None:
            return []
        if not self._filepath.is_file():
            raise DatasetError(f"name list file not found: {self._filepath}")
        lines = [(number, text) for number, text in read_lines(self._filepath) if not text.startswith("#")]
        try:
            return unique_names(lines, str(self._filepath))
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc

    def _exists(self) -> bool:
        return self._filepath is None or self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath) if self._filepath else None}
