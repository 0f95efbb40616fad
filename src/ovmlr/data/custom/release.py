"""The user's folder as a release: every tagged image resolved and checked, split and unseen files read.

Image paths in the tag file and the split files are relative to the image folder (or absolute); an image's
``image_id`` is its path relative to the folder (``holiday/beach.jpg``), so the same file has one id in
every file. Errors name the file and line: a path that does not exist, an image listed twice, a split entry
that is not in the tag file, an image in two splits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ovmlr.data.image_files import inspect_images
from ovmlr.data.tables import SPLITS

from .readers import TagRecord, read_path_list, read_tag_file

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomRelease:
    """The parsed folder, rows in tag-file order.

    Attributes:
        images: ``image_id``, ``path``, ``where`` (file and line), ``size_bytes``, ``problem`` ("" when the
            file decodes, or when decoding was not checked).
        tags: Per image, its tags as written.
        tag_source: The tag file (for messages).
        split_files: Split -> ``image_id`` -> where it is listed (empty: no split files, a seeded split).
        split_sources: Split -> its file (for messages).
        unseen: Unseen category names as written, with where (empty: no unseen file).
        unseen_source: The unseen category file ("" when none).
    """

    images: pd.DataFrame
    tags: list[tuple[str, ...]]
    tag_source: str
    split_files: dict[str, dict[str, str]] = field(default_factory=dict)
    split_sources: dict[str, str] = field(default_factory=dict)
    unseen: list[tuple[str, str]] = field(default_factory=list)
    unseen_source: str = ""


def image_id_of(path: str, images_dir: Path) -> tuple[str, Path]:
    """``(image_id, file)``: the path relative to ``images_dir`` (POSIX) when under it, else as resolved."""
    file = (images_dir / path).resolve()
    try:
        return file.relative_to(images_dir.resolve()).as_posix(), file
    except ValueError:
        return file.as_posix(), file


def resolve_records(records: list[TagRecord], images_dir: Path) -> pd.DataFrame:
    """``image_id``, ``path``, ``where`` per record; a missing file or a repeated image is an error."""
    first: dict[str, str] = {}
    rows = []
    for record in records:
        image_id, file = image_id_of(record.path, images_dir)
        if image_id in first:
            raise ValueError(
                f"{record.where}: image {record.path!r} is listed twice (first: {first[image_id]})"
            )
        if not file.is_file():
            raise FileNotFoundError(f"{record.where}: image {record.path!r} does not exist ({file})")
        first[image_id] = record.where
        rows.append((image_id, str(file), record.where))
    return pd.DataFrame(rows, columns=["image_id", "path", "where"])


def read_split_files(
    files: Mapping[str, str], images_dir: Path, known: set[str]
) -> dict[str, dict[str, str]]:
    """Split -> ``image_id`` -> where; every entry must be a tagged image, in one split only."""
    unknown_splits = sorted(set(files) - set(SPLITS))
    if unknown_splits:
        raise ValueError(f"split_files: unknown split(s) {unknown_splits}; expected some of {list(SPLITS)}")
    listed: dict[str, str] = {}
    splits: dict[str, dict[str, str]] = {}
    for split, file in files.items():
        splits[split] = {}
        for entry, where in read_path_list(Path(file)):
            image_id, _ = image_id_of(entry, images_dir)
            if image_id not in known:
                raise ValueError(f"{where}: image {entry!r} is not in the tag file")
            if image_id in listed:
                raise ValueError(f"{where}: image {entry!r} is listed twice (first: {listed[image_id]})")
            listed[image_id] = where
            splits[split][image_id] = where
    return splits


def read_unseen_file(path: Path) -> list[tuple[str, str]]:
    """Unseen category names (one per line, ``#`` comments) with where."""
    if not path.is_file():
        raise FileNotFoundError(f"unseen category file not found: {path}")
    return read_path_list(path)


def read_custom(  # noqa: PLR0913 - the catalog entry's options
    images_dir: str | Path,
    tags_file: str | Path,
    format_: str = "auto",
    tag_separator: str = "|",
    split_files: Mapping[str, str] | None = None,
    unseen_file: str | Path | None = None,
    verify_images: bool = True,
    num_workers: int = 4,
) -> CustomRelease:
    """Read a folder of images with its tag file (and optional split and unseen files).

    Raises:
        FileNotFoundError: The folder, a file or a listed image does not exist (named, with the line).
        ValueError: Malformed content, naming the file and line.
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"image folder not found: {images_dir}")
    records = read_tag_file(Path(tags_file), format_, tag_separator)
    images = resolve_records(records, images_dir)
    splits = read_split_files(split_files or {}, images_dir, set(images["image_id"]))
    unseen = read_unseen_file(Path(unseen_file)) if unseen_file else []
    if not verify_images:
        logger.warning("custom: verify_images is off; undecodable images will not be detected")
    status = inspect_images(images["path"].tolist(), verify_images, num_workers)
    return CustomRelease(
        images=pd.concat([images, status], axis=1),
        tags=[r.tags for r in records],
        tag_source=str(tags_file),
        split_files=splits,
        split_sources={split: str(file) for split, file in (split_files or {}).items()},
        unseen=unseen,
        unseen_source=str(unseen_file or ""),
    )
