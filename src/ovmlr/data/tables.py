"""The five tables every dataset produces (``docs/architecture.md``) and their validation.

``labels`` values: 1 positive, 0 negative (verified absent), -1 unknown (not annotated).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
ROLES = ("seen", "unseen", "")
LABEL_VALUES = (-1, 0, 1)
# Column -> dtype of the tables that may be empty.
REPORT_SCHEMA = {"image_id": "str", "path": "str", "reason": "str"}
PRETRAIN_SCHEMA = {
    "item_id": "str",
    "class_id": "int64",
    "class_name": "str",
    "split": "str",
    "pixels": "object",  # bytes: uint8 H×W×channels, row-major
    "height": "int64",
    "width": "int64",
    "channels": "int64",  # 1 grey, 3 RGB, 4 RGBA
    "tags": "str",  # "|"-joined category names of the item (caption material of the demo backbone)
    "title": "str",  # the item's title ("" when none)
}
# Why a source tag is not a category (datasets with a tag vocabulary).
VOCABULARY_REPORT_SCHEMA = {"tag": "str", "items": "int64", "reason": "str"}
LAYOUT_SCHEMA = {"image_id": "str", "tile": "int64", "item_id": "str", "class_id": "int64"}
REPORT_COLUMNS = list(REPORT_SCHEMA)
PRETRAIN_COLUMNS = list(PRETRAIN_SCHEMA)
LAYOUT_COLUMNS = list(LAYOUT_SCHEMA)


@dataclass(frozen=True)
class DatasetTables:
    """Everything the ``data_processing`` stage writes for one dataset.

    Attributes:
        image_manifest: ``image_id``, ``path``, ``split``.
        labels: ``image_id`` + one int8 column per category (``categories`` order).
        categories: ``category_id``, ``name``, ``dataset_role``.
        pretrain_pool: Single items for the demo backbone (empty for datasets with a real CLIP).
        data_report: Images skipped, with the reason.
        mosaic_layout: Which source item fills which tile of a rendered image (empty for photo datasets).
        image_files: Rendered images to write, ``image_id`` -> callable returning a PIL image.
        vocabulary_report: Source tags that did not become categories, with the reason (tag datasets).
    """

    image_manifest: pd.DataFrame
    labels: pd.DataFrame
    categories: pd.DataFrame
    pretrain_pool: pd.DataFrame = field(default_factory=lambda: empty_frame(PRETRAIN_SCHEMA))
    data_report: pd.DataFrame = field(default_factory=lambda: empty_frame(REPORT_SCHEMA))
    mosaic_layout: pd.DataFrame = field(default_factory=lambda: empty_frame(LAYOUT_SCHEMA))
    image_files: dict[str, Callable[[], Any]] = field(default_factory=dict)
    vocabulary_report: pd.DataFrame = field(default_factory=lambda: empty_frame(VOCABULARY_REPORT_SCHEMA))

    def __post_init__(self) -> None:
        check_tables(self.image_manifest, self.labels, self.categories)


def empty_frame(schema: dict[str, str]) -> pd.DataFrame:
    """A frame with the columns and dtypes of ``schema`` and no rows."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})


def make_categories(names: Sequence[str], roles: Sequence[str], source: str) -> pd.DataFrame:
    """The ``categories`` table; ``source`` names the file(s) the names came from, for errors."""
    if not names:
        raise ValueError(f"{source}: no categories")
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if not name or name != name.strip():
            raise ValueError(f"{source}: category {position} has an empty or padded name {name!r}")
        if name == "image_id":
            raise ValueError(f"{source}: a category may not be named 'image_id' (the key column)")
        if name in seen:
            raise ValueError(
                f"{source}: duplicate category name {name!r} (positions {seen[name]} and {position})"
            )
        seen[name] = position
    bad_roles = sorted(set(roles) - set(ROLES))
    if bad_roles:
        raise ValueError(
            f"{source}: unknown dataset_role value(s) {bad_roles}; expected one of {list(ROLES)}"
        )
    return pd.DataFrame(
        {
            "category_id": np.arange(len(names), dtype=np.int64),
            "name": list(names),
            "dataset_role": list(roles),
        }
    )


def make_manifest(image_ids: Sequence[str], paths: Sequence[str], splits: Sequence[str]) -> pd.DataFrame:
    """The ``image_manifest`` table."""
    return pd.DataFrame({"image_id": list(image_ids), "path": list(paths), "split": list(splits)})


def make_labels(image_ids: Sequence[str], matrix: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """The ``labels`` table from a ``[B, C]`` matrix of 1/0/-1."""
    if matrix.shape != (len(image_ids), len(names)):
        raise ValueError(f"label matrix has shape {matrix.shape}, expected ({len(image_ids)}, {len(names)})")
    data = pd.DataFrame(matrix.astype(np.int8, copy=False), columns=list(names))
    return pd.concat([pd.DataFrame({"image_id": list(image_ids)}), data], axis=1)


def make_report(rows: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    """The ``data_report`` table from ``(image_id, path, reason)`` rows."""
    if not rows:
        return empty_frame(REPORT_SCHEMA)
    return pd.DataFrame(list(rows), columns=REPORT_COLUMNS)


def check_tables(manifest: pd.DataFrame, labels: pd.DataFrame, categories: pd.DataFrame) -> None:
    """Check the contracts between the three core tables.

    Raises:
        ValueError: Naming the table, column and offending value.
    """
    duplicated = manifest["image_id"][manifest["image_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"image_manifest: duplicate image_id {duplicated.iloc[0]!r}")
    bad_splits = sorted(set(manifest["split"]) - set(SPLITS))
    if bad_splits:
        raise ValueError(f"image_manifest: unknown split(s) {bad_splits}; expected {list(SPLITS)}")
    expected = ["image_id", *categories["name"]]
    if list(labels.columns) != expected:
        raise ValueError("labels: columns must be 'image_id' then the category names in categories order")
    if labels["image_id"].tolist() != manifest["image_id"].tolist():
        raise ValueError("labels: image_id rows must match image_manifest row for row")
    values = labels.iloc[:, 1:].to_numpy()
    if values.size and not np.isin(values, LABEL_VALUES).all():
        raise ValueError(f"labels: values must be in {LABEL_VALUES}")


def _frame_digest(digest: Any, name: str, frame: pd.DataFrame) -> None:
    """Feed a table into ``digest``: its name, columns, dtypes and every value, in row order."""
    digest.update(f"\x1e{name}|{list(frame.columns)}|{[str(t) for t in frame.dtypes]}".encode())
    for column in frame.columns:
        values = frame[column].tolist()
        if values and isinstance(values[0], bytes | bytearray):
            for value in values:
                digest.update(len(value).to_bytes(8, "little"))
                digest.update(value)
        else:
            digest.update("\x1f".join(map(repr, values)).encode())


def build_hash(tables: DatasetTables) -> str:
    """A content hash of a dataset build: manifest, labels, categories, the pretraining pool (its items'
    pixels included) and the mosaic layout. Two machines that build the same dataset get the same hash;
    Python's hash seed, the CPU and the number of render workers change nothing.

    The mosaics' scales, offsets and backgrounds are drawn from the build's seed (numpy's generators are
    the same on every platform), so the layout and the items' pixels determine the rendered images.
    """
    import hashlib

    digest = hashlib.sha256()
    for name in ("image_manifest", "labels", "categories", "pretrain_pool", "mosaic_layout"):
        _frame_digest(digest, name, getattr(tables, name))
    return digest.hexdigest()[:16]


def pool_digest(pretrain_pool: pd.DataFrame, vocabulary: Sequence[str]) -> dict[str, str]:
    """Hashes that tie a pretrained backbone to the data it may be used with: the pretraining pool's item
    ids (by split) and the category vocabulary, each sorted."""
    import hashlib

    def h(values: Sequence[str]) -> str:
        return hashlib.sha256("\x1f".join(sorted(values)).encode()).hexdigest()[:16]

    train = pretrain_pool.loc[pretrain_pool["split"] == "train", "item_id"].astype(str).tolist()
    heldout = pretrain_pool.loc[pretrain_pool["split"] == "heldout", "item_id"].astype(str).tolist()
    return {"pretrain_items": h(train), "heldout_items": h(heldout), "vocabulary": h(list(vocabulary))}
