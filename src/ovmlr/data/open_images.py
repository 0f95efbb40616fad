"""Open Images (v4) with the LESA split: 7,186 trainable classes seen, the top 400 unseen.

Files read under the release root (names configurable, see ``OpenImagesFiles``):

* ``classes-trainable.txt``: seen class ids (``/m/...``), one per line.
* ``top_400_unseen.csv`` (no header): unseen classes, first column either class ids or, as in LESA's
  release, integer row indices into ``unseen_labels.pkl`` (a pickled list of class ids).
* ``class-descriptions.csv``: ``LabelName,DisplayName`` (header optional); display names are the
  category names (a name shared by two classes gets its class id appended, with a warning).
* ``<split>/<split>-annotations-human-imagelabels.csv``: ``ImageID,Source,LabelName,Confidence``, the
  human-verified image labels. Confidence 1 -> 1, 0 -> 0 (verified absent), not annotated -> -1 (unknown:
  Open Images annotations are sparse). A pair annotated both ways counts as positive.
* ``images/<split>/<ImageID>.jpg``: the images. Splits ``train``/``validation``/``test`` become
  ``train``/``val``/``test``.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .image_files import inspect_images
from .names import read_lines, require_file, unique_names
from .tables import DatasetTables, make_categories, make_labels, make_manifest, make_report

logger = logging.getLogger(__name__)
DATASET = "Open Images"
ANNOTATION_COLUMNS = ("ImageID", "LabelName", "Confidence")
SPLIT_NAMES = {"train": "train", "validation": "val", "test": "test"}


@dataclass(frozen=True)
class OpenImagesFiles:
    """Release file names, relative to the root; ``{split}`` is train/validation/test."""

    seen_classes: str = "classes-trainable.txt"
    unseen_classes: str = "top_400_unseen.csv"
    unseen_index: str = "unseen_labels.pkl"  # only read when top_400_unseen.csv holds indices
    descriptions: str = "class-descriptions.csv"
    annotations: str = "{split}/{split}-annotations-human-imagelabels.csv"
    image: str = "images/{split}/{image_id}.jpg"


@dataclass(frozen=True)
class OpenImagesRelease:
    """The parsed release.

    Attributes:
        seen_ids, unseen_ids: Class ids in file order.
        display_names: Class id -> display name, for every seen and unseen class.
        annotations: ``split`` (train/val/test), ``ImageID``, ``LabelName``, ``Confidence`` (int8 0/1).
        images: ``image_id``, ``split``, ``path``, ``size_bytes``, ``problem``, one row per annotated image.
    """

    seen_ids: list[str]
    unseen_ids: list[str]
    display_names: dict[str, str]
    annotations: pd.DataFrame
    images: pd.DataFrame = field(repr=False)


def read_unseen_ids(path: Path, index_path: Path) -> list[str]:
    """Unseen class ids: the first column of a headerless CSV, as ids or as indices into a pickled list."""
    first = [line.split(",")[0].strip().strip('"') for _, line in read_lines(path)]
    if not all(value.lstrip("-").isdigit() for value in first):
        return unique_names(list(enumerate(first, start=1)), str(path))
    with require_file(index_path, DATASET).open("rb") as handle:
        index = [str(v) for v in pickle.load(handle)]  # noqa: S301 - the dataset's own release file
    bad = [v for v in map(int, first) if not 0 <= v < len(index)]
    if bad:
        raise ValueError(f"{path}: index {bad[0]} is outside {index_path} ({len(index)} class ids)")
    return unique_names(list(enumerate((index[int(v)] for v in first), start=1)), str(path))


def read_descriptions(path: Path) -> dict[str, str]:
    """``LabelName`` -> ``DisplayName`` (a first row ``LabelName,DisplayName`` is taken as a header)."""
    frame = pd.read_csv(
        require_file(path, DATASET), header=None, names=["id", "name"], dtype=str, keep_default_na=False
    )
    if len(frame) and tuple(frame.iloc[0]) == ("LabelName", "DisplayName"):
        frame = frame.iloc[1:]
    return dict(zip(frame["id"].str.strip(), frame["name"].str.strip(), strict=True))


def read_annotations(path: Path, split: str) -> pd.DataFrame:
    """One split's human-verified labels; Confidence must be 0 or 1 (errors name the CSV line)."""
    try:
        frame = pd.read_csv(require_file(path, DATASET), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    missing = [c for c in ANNOTATION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected ImageID,Source,LabelName,Confidence")
    empty = np.flatnonzero(((frame["ImageID"] == "") | (frame["LabelName"] == "")).to_numpy())
    if empty.size:
        raise ValueError(
            f"{path}, line {empty[0] + 2}: empty ImageID or LabelName (a row with too few fields?)"
        )
    confidence = pd.to_numeric(frame["Confidence"], errors="coerce")
    bad = np.flatnonzero(~confidence.isin([0, 1]).to_numpy())
    if bad.size:
        raise ValueError(
            f"{path}, line {bad[0] + 2}: Confidence {frame['Confidence'].iloc[bad[0]]!r} is not 0 or 1"
        )
    return pd.DataFrame(
        {
            "split": split,
            "ImageID": frame["ImageID"],
            "LabelName": frame["LabelName"],
            "Confidence": confidence.astype(np.int8),
        }
    )


@dataclass(frozen=True)
class OpenImagesConfig:
    """How the release becomes the data contracts."""

    drop_images_without_positive: bool = False  # drop (and report) images with no positive label kept


def check_classes(seen: list[str], unseen: list[str], names: dict[str, str], paths: dict[str, Path]) -> None:
    """Seen and unseen must be disjoint and every class must have a display name."""
    both = sorted(set(seen) & set(unseen))
    if both:
        raise ValueError(
            f"class {both[0]!r} is in both {paths['seen_classes']} and {paths['unseen_classes']}"
        )
    for ids, key in ((seen, "seen_classes"), (unseen, "unseen_classes")):
        missing = [class_id for class_id in ids if class_id not in names]
        if missing:
            raise ValueError(
                f"class {missing[0]!r} of {paths[key]} is missing from the class list {paths['descriptions']}"
                f" ({len(missing)} missing in all)"
            )


def sample_images(annotations: pd.DataFrame, max_images: dict[str, int | None], seed: int) -> pd.DataFrame:
    """Images per split in order of first appearance, a seeded subset where ``max_images[split]`` is set."""
    images = annotations.drop_duplicates(["split", "ImageID"])[["split", "ImageID"]]
    clash = images["ImageID"].duplicated()
    if clash.any():
        raise ValueError(f"duplicate image id {images['ImageID'][clash].iloc[0]!r} in two annotation splits")
    rng = np.random.default_rng(seed)
    parts = []
    for split in SPLIT_NAMES.values():
        part = images[images["split"] == split]
        limit = max_images.get(split)
        if limit is not None and len(part) > limit:
            logger.info("Open Images %s: sampling %d of %d images (seed %d)", split, limit, len(part), seed)
            part = part.iloc[np.sort(rng.choice(len(part), size=limit, replace=False))]
        parts.append(part)
    return pd.concat(parts, ignore_index=True).rename(columns={"ImageID": "image_id"})


def read_open_images(
    root: str | Path,
    *,
    files: OpenImagesFiles = OpenImagesFiles(),
    max_images: dict[str, int | None] | None = None,
    seed: int = 0,
    verify_images: bool = True,
    num_workers: int = 4,
) -> OpenImagesRelease:
    """Parse an Open Images release folder (optionally a seeded subset of images) and check its image files.

    Raises:
        FileNotFoundError: A release file is missing (named).
        ValueError: Malformed content, naming the file (and line where there is one).
    """
    root = Path(root)
    paths = {key: root / getattr(files, key) for key in ("seen_classes", "unseen_classes", "descriptions")}
    seen = unique_names(read_lines(require_file(paths["seen_classes"], DATASET)), str(paths["seen_classes"]))
    unseen = read_unseen_ids(require_file(paths["unseen_classes"], DATASET), root / files.unseen_index)
    names = read_descriptions(paths["descriptions"])
    check_classes(seen, unseen, names, paths)
    annotations = pd.concat(
        [
            read_annotations(root / files.annotations.format(split=raw), split)
            for raw, split in SPLIT_NAMES.items()
        ],
        ignore_index=True,
    )
    images = sample_images(annotations, dict(max_images or {}), seed)
    annotations = annotations[annotations["ImageID"].isin(images["image_id"])].reset_index(drop=True)
    raw_split = {split: raw for raw, split in SPLIT_NAMES.items()}
    images["path"] = [
        str(root / files.image.format(split=raw_split[s], image_id=i))
        for s, i in zip(images["split"], images["image_id"], strict=True)
    ]
    if not verify_images:
        logger.warning("Open Images: verify_images is off; undecodable images will not be detected")
    status = inspect_images(images["path"].tolist(), verify_images, num_workers)
    images = pd.concat([images, status], axis=1)
    display = {class_id: names[class_id] for class_id in seen + unseen}
    return OpenImagesRelease(seen, unseen, display, annotations, images)


def category_names(class_ids: list[str], display_names: dict[str, str]) -> list[str]:
    """Display names, made unique by appending the class id to a name shared by several classes."""
    counts = pd.Series([display_names[c] for c in class_ids]).value_counts()
    names = []
    for class_id in class_ids:
        name = display_names[class_id]
        if counts[name] > 1:
            logger.warning(
                "Open Images: display name %r is shared; class %s is named %r",
                name,
                class_id,
                f"{name} ({class_id})",
            )
            name = f"{name} ({class_id})"
        names.append(name)
    return names


def label_matrix(annotations: pd.DataFrame, image_ids: list[str], class_ids: list[str]) -> np.ndarray:
    """``[B, C]`` int8: -1 unless annotated; 0 verified absent; 1 present (wins over a conflicting 0)."""
    matrix = np.full((len(image_ids), len(class_ids)), -1, dtype=np.int8)
    rows = pd.Index(image_ids).get_indexer(annotations["ImageID"])
    cols = pd.Index(class_ids).get_indexer(annotations["LabelName"])
    known = (rows >= 0) & (cols >= 0)
    logger.info("Open Images: %d annotations outside the chosen classes ignored", int((~known).sum()))
    confidence = annotations["Confidence"].to_numpy()
    for value in (0, 1):  # positives last, so a pair annotated both ways ends up positive
        pick = known & (confidence == value)
        matrix[rows[pick], cols[pick]] = value
    return matrix


def build_open_images_tables(
    release: OpenImagesRelease, config: OpenImagesConfig, seed: int
) -> DatasetTables:
    """The data contracts: LESA categories, official splits, unusable images dropped and reported."""
    del seed  # the official splits are used; sampling happened when reading
    class_ids = release.seen_ids + release.unseen_ids
    names = category_names(class_ids, release.display_names)
    roles = ["seen"] * len(release.seen_ids) + ["unseen"] * len(release.unseen_ids)
    images = release.images
    matrix = label_matrix(release.annotations, images["image_id"].tolist(), class_ids)
    reasons = images["problem"].to_numpy(dtype=object).copy()
    if config.drop_images_without_positive:
        reasons[(reasons == "") & ~(matrix == 1).any(axis=1)] = "no positive label among the categories"
    keep = reasons == ""
    dropped = images[~keep]
    logger.info("Open Images: %d images kept, %d dropped", int(keep.sum()), int((~keep).sum()))
    kept = images[keep]
    ids = kept["image_id"].tolist()
    return DatasetTables(
        image_manifest=make_manifest(ids, kept["path"].tolist(), kept["split"].tolist()),
        labels=make_labels(ids, matrix[keep], names),
        categories=make_categories(names, roles, "Open Images class lists"),
        data_report=make_report(list(zip(dropped["image_id"], dropped["path"], reasons[~keep], strict=True))),
    )
