"""Base class of the raw-data datasets: they read release files and never write them."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from kedro.io import AbstractDataset, DatasetError

T = TypeVar("T")


class ReadOnlyDataset(AbstractDataset[None, T], Generic[T]):
    """A dataset whose ``save`` is an error: raw release files are inputs only."""

    def _save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: raw release files are never written")
