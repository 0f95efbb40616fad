"""A Kedro dataset for an Open Images (v4) release folder (see ``ovmlr.data.open_images`` for the layout)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ovmlr.data.open_images import OpenImagesFiles, OpenImagesRelease, read_open_images

from .read_only import ReadOnlyDataset


class OpenImagesDataset(ReadOnlyDataset[OpenImagesRelease]):
    """Loads the Open Images class lists, human-verified labels and the status of every image file.

    Example catalog entry::

        raw_source:
          type: ovmlr.datasets.OpenImagesDataset
          root: ${globals:open_images_dir}
          max_images: {train: 200000}

    Args:
        root: The release folder.
        files: Overrides of the release file names (fields of ``OpenImagesFiles``).
        max_images: Per split (``train``/``val``/``test``), read a seeded subset of at most this many
            images (null or absent: all). The full train split (9M images) does not fit a dense label table.
        seed: Seed of that subset.
        verify_images: Decode every image to find corrupt ones (they are then skipped and reported).
        num_workers: Threads that check image files.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self,
        root: str,
        *,
        files: dict[str, str] | None = None,
        max_images: dict[str, int | None] | None = None,
        seed: int = 0,
        verify_images: bool = True,
        num_workers: int = 4,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._root = root
        self._files = OpenImagesFiles(**(files or {}))
        self._max_images = dict(max_images or {})
        self._seed = seed
        self._verify_images = verify_images
        self._num_workers = num_workers
        self.metadata = metadata

    def _load(self) -> OpenImagesRelease:
        return read_open_images(
            self._root,
            files=self._files,
            max_images=self._max_images,
            seed=self._seed,
            verify_images=self._verify_images,
            num_workers=self._num_workers,
        )

    def _describe(self) -> dict[str, Any]:
        return {
            "root": self._root,
            "files": asdict(self._files),
            "max_images": self._max_images,
            "seed": self._seed,
        }
