"""A Kedro dataset for the four Fashion-MNIST IDX files, loaded together as one release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import DatasetError

from ovmlr.data.fashion_mnist import FashionMNISTRelease

from .idx import IDXDataset
from .read_only import ReadOnlyDataset

STANDARD_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class FashionMNISTDataset(ReadOnlyDataset[FashionMNISTRelease]):
    """The four standard Fashion-MNIST files of a folder, each read by ``IDXDataset``.

    Checks that images are ``[N, h, w]`` uint8, labels ``[N]``, and that each pair agrees on N; errors
    name the files.

    Example catalog entry::

        raw_source:
          type: ovmlr.datasets.FashionMNISTDataset
          directory: ${globals:fashion_mnist_dir}

    Args:
        directory: Folder holding the files.
        files: Overrides of the standard file names (keys ``train_images``, ``train_labels``,
            ``test_images``, ``test_labels``).
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self, directory: str, files: dict[str, str] | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        unknown = sorted(set(files or {}) - set(STANDARD_FILES))
        if unknown:
            raise DatasetError(
                f"FashionMNISTDataset: unknown file key(s) {unknown}; known: {sorted(STANDARD_FILES)}"
            )
        self._directory = Path(directory)
        self._paths = {
            key: self._directory / name for key, name in {**STANDARD_FILES, **(files or {})}.items()
        }
        self.metadata = metadata

    def _load(self) -> FashionMNISTRelease:
        arrays = {key: IDXDataset(str(path)).load() for key, path in self._paths.items()}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            image_file, label_file = self._paths[f"{split}_images"], self._paths[f"{split}_labels"]
            if images.ndim != 3 or images.dtype != np.uint8:
                raise DatasetError(
                    f"{image_file}: expected uint8 images [N, h, w], got {images.dtype} {images.shape}"
                )
            if labels.ndim != 1:
                raise DatasetError(f"{label_file}: expected labels [N], got shape {labels.shape}")
            if len(images) != len(labels):
                raise DatasetError(
                    f"{image_file} holds {len(images)} images but {label_file} {len(labels)} labels"
                )
        return FashionMNISTRelease(**arrays)

    def _exists(self) -> bool:
        return all(path.is_file() for path in self._paths.values())

    def _describe(self) -> dict[str, Any]:
        return {"directory": str(self._directory), "files": {k: p.name for k, p in self._paths.items()}}
