"""A Kedro dataset for a NUS-WIDE release folder (see ``ovmlr.data.nus_wide`` for the layout)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ovmlr.data.nus_wide import NusWideFiles, NusWideRelease, read_nus_wide

from .read_only import ReadOnlyDataset


class NusWideDataset(ReadOnlyDataset[NusWideRelease]):
    """Loads the NUS-WIDE image lists, tags, concept labels and the status of every image file.

    Example catalog entry::

        raw_source:
          type: ovmlr.datasets.NusWideDataset
          root: ${globals:nus_wide_dir}

    Args:
        root: The release folder.
        files: Overrides of the release file names (fields of ``NusWideFiles``).
        verify_images: Decode every image to find corrupt ones (they are then skipped and reported).
        num_workers: Threads that check image files.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self,
        root: str,
        files: dict[str, str] | None = None,
        verify_images: bool = True,
        num_workers: int = 4,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._root = root
        self._files = NusWideFiles(**(files or {}))
        self._verify_images = verify_images
        self._num_workers = num_workers
        self.metadata = metadata

    def _load(self) -> NusWideRelease:
        return read_nus_wide(self._root, self._files, self._verify_images, self._num_workers)

    def _describe(self) -> dict[str, Any]:
        return {"root": self._root, "files": asdict(self._files), "verify_images": self._verify_images}
