"""A folder of rendered images, one file per image id, rewritten only where the content changed.

The feature stage keys its hash index on (path, size, mtime): a file rewritten with the same bytes gets a new
mtime and would be read and hashed again on every run. ``ImageFolderDataset`` therefore encodes each image in
memory, compares the bytes with the file already there, and writes (atomically) only new or changed files;
with ``remove_stale`` the files of ids no longer saved are deleted, as ``PartitionedDataset(overwrite=True)``
would.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from PIL import Image

logger = logging.getLogger(__name__)


def _open_image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


class ImageFolderDataset(AbstractDataset[dict[str, Any], dict[str, Callable[[], Image.Image]]]):
    """Images saved as ``<path>/<image id><filename_suffix>``.

    Example catalog entry::

        mosaic_images:
          type: ovmlr.datasets.ImageFolderDataset
          path: data/02_intermediate/fmnist_mosaics

    Args:
        path: The folder (created on first save).
        filename_suffix: File suffix; it also picks Pillow's format (``.png`` is lossless and deterministic).
        save_args: Passed to ``PIL.Image.save`` (e.g. ``compress_level``).
        remove_stale: Delete files with the suffix whose id is not in the saved dict.
        metadata: Kedro-Viz and plugin metadata, ignored here.

    ``save`` takes ``{image_id: PIL image or callable returning one}``; ``load`` returns
    ``{image_id: callable returning the PIL image}`` (lazy, like ``PartitionedDataset``).
    """

    def __init__(
        self,
        path: str,
        filename_suffix: str = ".png",
        save_args: dict[str, Any] | None = None,
        remove_stale: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not filename_suffix.startswith("."):
            raise ValueError(f"filename_suffix must start with '.', got {filename_suffix!r}")
        self._path = Path(path)
        self._suffix = filename_suffix
        self._format = Image.registered_extensions().get(filename_suffix.lower())
        if self._format is None:
            raise ValueError(f"Pillow has no image format for the suffix {filename_suffix!r}")
        self._save_args = dict(save_args or {})
        self._remove_stale = remove_stale
        self.metadata = metadata
        self.last_save_counts: dict[str, int] = {}

    def _files(self) -> dict[str, Path]:
        if not self._path.exists():
            return {}
        return {p.name[: -len(self._suffix)]: p for p in sorted(self._path.glob(f"*{self._suffix}"))}

    def _load(self) -> dict[str, Callable[[], Image.Image]]:
        return {image_id: functools.partial(_open_image, path) for image_id, path in self._files().items()}

    def _encode(self, image_id: str, image: Any) -> bytes:
        if callable(image):
            image = image()
        if not isinstance(image, Image.Image):
            raise DatasetError(f"image {image_id!r}: expected a PIL image, got {type(image).__name__}")
        buffer = io.BytesIO()
        image.save(buffer, format=self._format, **self._save_args)
        return buffer.getvalue()

    def _save(self, data: dict[str, Any]) -> None:
        self._path.mkdir(parents=True, exist_ok=True)
        existing = self._files()
        counts = {"written": 0, "unchanged": 0, "removed": 0}
        for image_id, image in sorted(data.items()):
            if not image_id or "/" in image_id or os.sep in image_id:
                raise DatasetError(f"image id {image_id!r} is not a plain file name")
            encoded = self._encode(image_id, image)
            final = self._path / f"{image_id}{self._suffix}"
            if final.exists() and final.stat().st_size == len(encoded) and final.read_bytes() == encoded:
                counts["unchanged"] += 1
                continue
            tmp = self._path / f".{image_id}{self._suffix}.tmp"
            tmp.write_bytes(encoded)
            os.replace(tmp, final)
            counts["written"] += 1
        if self._remove_stale:
            for image_id in set(existing) - set(data):
                existing[image_id].unlink()
                counts["removed"] += 1
        self.last_save_counts = counts
        logger.info(
            "%s: %d images written, %d unchanged (kept with their mtime), %d stale removed",
            self._path,
            counts["written"],
            counts["unchanged"],
            counts["removed"],
        )

    def _exists(self) -> bool:
        return bool(self._files())

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "filename_suffix": self._suffix, "remove_stale": self._remove_stale}
