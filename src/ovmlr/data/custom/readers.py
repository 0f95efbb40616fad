"""Readers of the tag files: CSV, JSON Lines and COCO instances JSON, each to the same records.

A record is one image as the file lists it: its path as written (relative to the image folder, or
absolute), its tags as written, and where it was found (``tags.csv, line 7``) for error messages.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("csv", "jsonl", "coco")
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "coco"}


@dataclass(frozen=True)
class TagRecord:
    """One image of a tag file.

    Attributes:
        path: The image path as written in the file.
        tags: Its tags as written (not normalised).
        where: ``<file>, line <n>`` (or the COCO entry) for error messages.
    """

    path: str
    tags: tuple[str, ...]
    where: str


def tag_format(path: Path, format_: str) -> str:
    """``format_`` if explicit, else the format the file's suffix implies (``auto``)."""
    if format_ != "auto":
        if format_ not in FORMATS:
            raise ValueError(
                f"{path}: unknown tag file format {format_!r}; expected auto or one of {FORMATS}"
            )
        return format_
    found = _SUFFIX_FORMATS.get(path.suffix.lower())
    if found is None:
        raise ValueError(
            f"{path}: cannot tell the tag file format from the suffix {path.suffix!r} "
            f"(known: {sorted(_SUFFIX_FORMATS)}); set format: csv | jsonl | coco"
        )
    return found


def read_tag_file(path: Path, format_: str = "auto", separator: str = "|") -> list[TagRecord]:
    """The records of a tag file in any supported format.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Malformed content, naming the file and line (or COCO entry).
    """
    if not path.is_file():
        raise FileNotFoundError(f"tag file not found: {path}")
    readers = {"csv": read_csv_tags, "jsonl": read_jsonl_tags, "coco": read_coco_tags}
    format_ = tag_format(path, format_)
    return readers[format_](path, separator) if format_ != "coco" else read_coco_tags(path)


def split_tags(cell: str, separator: str) -> tuple[str, ...]:
    """Non-blank tags of one cell, as written (surrounding blanks stripped)."""
    return tuple(tag.strip() for tag in cell.split(separator) if tag.strip())


def read_csv_tags(path: Path, separator: str = "|") -> list[TagRecord]:
    """A CSV with a header naming ``path`` and ``tags`` columns (others ignored); ``.tsv``: tab-delimited.

    An empty ``tags`` cell is an image without tags (all its labels negative).
    """
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = {"path", "tags"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{path}, line 1: the header must name the columns 'path' and 'tags'; "
                f"missing {sorted(missing)}, found {reader.fieldnames}"
            )
        records = []
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            image = (row["path"] or "").strip()
            tags = split_tags(row["tags"] or "", separator)
            if not image:
                raise ValueError(f"{where}: a tag row without an image (empty 'path'; tags {list(tags)})")
            records.append(TagRecord(image, tags, where))
    return records


def read_jsonl_tags(path: Path, separator: str = "|") -> list[TagRecord]:
    """One JSON object per line: ``{"path": "a.jpg", "tags": ["cat", "sofa"]}`` (or a ``separator``-joined
    string); blank lines are skipped."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not a JSON object: {exc.msg}") from exc
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(entry).__name__}")
        image = entry.get("path")
        tags = entry.get("tags", [])
        tags = split_tags(tags, separator) if isinstance(tags, str) else tags
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            raise ValueError(f"{where}: 'tags' must be a list of strings, got {tags!r}")
        if not isinstance(image, str) or not image.strip():
            raise ValueError(f"{where}: a tag row without an image (no 'path'; tags {list(tags)})")
        records.append(TagRecord(image.strip(), tuple(t.strip() for t in tags if t.strip()), where))
    return records


def _coco_list(data: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise ValueError(f"{path}: '{key}' must be a list of objects (COCO instances format)")
    return value


def read_coco_tags(path: Path) -> list[TagRecord]:
    """COCO instances JSON: an image's tags are the names of the categories of its annotations.

    Images without annotations are kept without tags (all their labels negative).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}, line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with images, categories and annotations")
    names = {entry.get("id"): entry.get("name") for entry in _coco_list(data, "categories", path)}
    images: dict[Any, tuple[str, list[str]]] = {}
    for index, entry in enumerate(_coco_list(data, "images", path)):
        file_name = entry.get("file_name")
        if not isinstance(file_name, str) or not file_name.strip():
            raise ValueError(f"{path}: images[{index}] (id {entry.get('id')!r}) has no file_name")
        if entry.get("id") in images:
            raise ValueError(f"{path}: images[{index}]: image id {entry.get('id')!r} is listed twice")
        images[entry.get("id")] = (file_name.strip(), [])
    for index, entry in enumerate(_coco_list(data, "annotations", path)):
        where = f"{path}: annotations[{index}] (id {entry.get('id')!r})"
        if entry.get("image_id") not in images:
            raise ValueError(
                f"{where}: a tag without an image: image_id {entry.get('image_id')!r} is not in images"
            )
        name = names.get(entry.get("category_id"))
        if not isinstance(name, str):
            raise ValueError(f"{where}: category_id {entry.get('category_id')!r} is not in categories")
        tags = images[entry["image_id"]][1]
        if name not in tags:
            tags.append(name)
    return [
        TagRecord(file_name, tuple(tags), f"{path}: images[{index}] (id {image_id!r})")
        for index, (image_id, (file_name, tags)) in enumerate(images.items())
    ]


def read_path_list(path: Path) -> list[tuple[str, str]]:
    """A split file: one image path per line (blank lines and ``#`` comments skipped), with where."""
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [
        (line.strip(), f"{path}, line {number}")
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
