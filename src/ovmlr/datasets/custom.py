"""A Kedro dataset for your own folder of images and its tag file (see ``ovmlr.data.custom``)."""

from __future__ import annotations

from typing import Any

from ovmlr.data.custom.release import CustomRelease, read_custom

from .read_only import ReadOnlyDataset


class CustomTagsDataset(ReadOnlyDataset[CustomRelease]):
    """Loads a folder of images with its tags (CSV, JSON Lines or COCO JSON), split and unseen files.

    Example catalog entry (``conf/custom/catalog_data_processing.yml``)::

        raw_source:
          type: ovmlr.datasets.CustomTagsDataset
          images_dir: data/01_raw/custom/images
          tags_file: data/01_raw/custom/tags.csv
          tag_separator: "|"
          split_files: {train: data/01_raw/custom/train.txt, test: data/01_raw/custom/test.txt}
          unseen_file: data/01_raw/custom/unseen.txt

    Args:
        images_dir: The image folder; paths in the tag and split files are relative to it (or absolute).
        tags_file: ``.csv`` / ``.tsv`` (``path``, ``tags`` columns), ``.jsonl`` or COCO ``.json``.
        format: ``auto`` (from the suffix), ``csv``, ``jsonl`` or ``coco``.
        tag_separator: Separator of the tags in a CSV cell (or a JSON Lines string).
        split_files: Split -> file of image paths (``train`` and ``test``, optionally ``val``); empty: a
            seeded split.
        unseen_file: Unseen category names, one per line (null: none; then pick a ``category_sets``
            strategy).
        verify_images: Decode every image once; undecodable ones are dropped and listed in data_report.
        num_workers: Threads that check image files.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(  # noqa: PLR0913 - the catalog entry's options
        self,
        images_dir: str,
        tags_file: str,
        format: str = "auto",  # noqa: A002 - the catalog key users write
        tag_separator: str = "|",
        split_files: dict[str, str] | None = None,
        unseen_file: str | None = None,
        verify_images: bool = True,
        num_workers: int = 4,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._options = {
            "images_dir": images_dir,
            "tags_file": tags_file,
            "format_": format,
            "tag_separator": tag_separator,
            "split_files": dict(split_files or {}),
            "unseen_file": unseen_file,
            "verify_images": verify_images,
            "num_workers": num_workers,
        }
        self.metadata = metadata

    def _load(self) -> CustomRelease:
        return read_custom(**self._options)

    def _describe(self) -> dict[str, Any]:
        options = dict(self._options)
        return {"format": options.pop("format_"), **options}
