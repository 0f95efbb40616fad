"""A Kedro dataset for one IDX file (the (Fashion-)MNIST array format), gzip-compressed or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import DatasetError

from ovmlr.data.idx import IDXFormatError, read_idx

from .read_only import ReadOnlyDataset


class IDXDataset(ReadOnlyDataset[np.ndarray]):
    """Loads an IDX file as a numpy array; checks the magic number, dimensions and item count.

    Example catalog entry::

        fmnist_train_labels:
          type: ovmlr.datasets.IDXDataset
          filepath: ${globals:fashion_mnist_dir}/train-labels-idx1-ubyte.gz

    Args:
        filepath: The ``.gz`` or raw IDX file.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> np.ndarray:
        try:
            return read_idx(self._filepath)
        except (FileNotFoundError, IDXFormatError) as exc:
            raise DatasetError(str(exc)) from exc

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
