"""NUS-WIDE from its public release files, with the LESA/BiAM seen/unseen split.

Files read under the release root (names configurable, see ``NusWideFiles``):

* ``ImageList/Imagelist.txt``: every image, one per line; the row order of all label files below.
  ``ImageList/TrainImagelist.txt`` / ``TestImagelist.txt``: the official train / test images. Paths use
  backslashes in the original release (``C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg``); an image is
  identified by its last two path parts (``actor/0001_2124494179``).
* ``NUS_WID_Tags/TagList1k.txt`` (1000 tag names) and ``AllTags1k.txt`` (one row of 1000 0/1 per image).
* ``Concepts81.txt`` (81 human-verified concepts) and ``AllLabels/Labels_<concept>.txt`` (one 0/1 per image).
* ``Flickr/<dir>/<file>.jpg``: the images.

LESA convention: seen = the 1k tags minus the 81 concepts (925 on the release), unseen = the 81 concepts;
label columns are the seen tags (TagList1k order) then the concepts (Concepts81 order). Images whose file is
at most ``placeholder_max_bytes`` (the Flickr "photo unavailable" placeholder) are dropped and reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .image_files import inspect_images
from .names import read_lines, require_file, unique_names
from .tables import DatasetTables, make_categories, make_labels, make_manifest, make_report
from .text_matrix import parse_binary_matrix

logger = logging.getLogger(__name__)
DATASET = "NUS-WIDE"


@dataclass(frozen=True)
class NusWideFiles:
    """Release file names, relative to the root."""

    image_list: str = "ImageList/Imagelist.txt"
    train_list: str = "ImageList/TrainImagelist.txt"
    test_list: str = "ImageList/TestImagelist.txt"
    tag_list: str = "NUS_WID_Tags/TagList1k.txt"
    tag_matrix: str = "NUS_WID_Tags/AllTags1k.txt"
    concepts: str = "Concepts81.txt"
    concept_labels: str = "AllLabels/Labels_{concept}.txt"
    image_dir: str = "Flickr"


@dataclass(frozen=True)
class NusWideRelease:
    """The parsed release, rows in ``Imagelist.txt`` order.

    Attributes:
        images: ``image_id``, ``path``, ``list_split`` (``train``/``test``/"" when in neither list),
            ``size_bytes`` (-1 when missing), ``problem`` ("" when the file is usable).
        tag_names: The 1k tag names.
        tags: ``[N, T]`` int8 tag matrix.
        concept_names: The 81 concept names.
        concept_labels: ``[N, 81]`` int8 concept labels.
    """

    images: pd.DataFrame
    tag_names: list[str]
    tags: np.ndarray
    concept_names: list[str]
    concept_labels: np.ndarray


@dataclass(frozen=True)
class NusWideConfig:
    """How the release becomes the data contracts."""

    val_fraction: float = 0.1  # share of the official train list held out as val (seeded)
    placeholder_max_bytes: int = 4000  # files this small are the "unavailable" placeholder


def image_key(entry: str, source: str, line: int) -> str:
    """``<dir>/<file>`` from an image-list entry with ``/`` or ``\\`` separators."""
    parts = [part for part in entry.replace("\\", "/").split("/") if part]
    if len(parts) < 2:
        raise ValueError(f"{source}, line {line}: expected a '<dir>/<file>' path, got {entry!r}")
    return f"{parts[-2]}/{parts[-1]}"


def read_image_list(path: Path) -> list[str]:
    """Image keys of one list file; a repeated image is an error naming both lines."""
    lines = [(number, image_key(entry, str(path), number)) for number, entry in read_lines(path)]
    return unique_names(lines, str(path))


def list_splits(keys: list[str], train: list[str], test: list[str], files: dict[str, Path]) -> list[str]:
    """``train``/``test``/"" per image of the master list; list entries must be in the master list."""
    known = set(keys)
    for split_keys, name in ((train, "train_list"), (test, "test_list")):
        unknown = [key for key in split_keys if key not in known]
        if unknown:
            raise ValueError(f"{files[name]}: image {unknown[0]!r} is not in {files['image_list']}")
    both = set(train) & set(test)
    if both:
        raise ValueError(
            f"image {sorted(both)[0]!r} is in both {files['train_list']} and {files['test_list']}"
        )
    train_set, test_set = set(train), set(test)
    return ["train" if k in train_set else "test" if k in test_set else "" for k in keys]


def read_matrix(path: Path, width: int, rows: int, image_list: Path) -> np.ndarray:
    """A 0/1 matrix file that must have one row per image of ``image_list``."""
    matrix = parse_binary_matrix(require_file(path, DATASET).read_bytes(), width, str(path))
    if len(matrix) != rows:
        raise ValueError(f"{path}: {len(matrix)} rows but {image_list} lists {rows} images")
    return matrix


def read_nus_wide(
    root: str | Path, files: NusWideFiles = NusWideFiles(), verify_images: bool = True, num_workers: int = 4
) -> NusWideRelease:
    """Parse a NUS-WIDE release folder and check its image files.

    Raises:
        FileNotFoundError: A release file is missing (named).
        ValueError: Malformed content, naming the file and line.
    """
    root = Path(root)
    paths = {name: root / getattr(files, name) for name in ("image_list", "train_list", "test_list")}
    paths |= {name: root / getattr(files, name) for name in ("tag_list", "tag_matrix", "concepts")}
    keys = read_image_list(require_file(paths["image_list"], DATASET))
    splits = list_splits(
        keys,
        read_image_list(require_file(paths["train_list"], DATASET)),
        read_image_list(require_file(paths["test_list"], DATASET)),
        paths,
    )
    tag_names = unique_names(read_lines(require_file(paths["tag_list"], DATASET)), str(paths["tag_list"]))
    tags = read_matrix(paths["tag_matrix"], len(tag_names), len(keys), paths["image_list"])
    concepts = unique_names(read_lines(require_file(paths["concepts"], DATASET)), str(paths["concepts"]))
    concept_labels = (
        np.concatenate(
            [
                read_matrix(root / files.concept_labels.format(concept=c), 1, len(keys), paths["image_list"])
                for c in concepts
            ],
            axis=1,
        )
        if concepts
        else np.zeros((len(keys), 0), dtype=np.int8)
    )
    image_paths = [str(root / files.image_dir / key) for key in keys]
    if not verify_images:
        logger.warning("NUS-WIDE: verify_images is off; undecodable images will not be detected")
    status = inspect_images(image_paths, verify_images, num_workers)
    images = pd.DataFrame(
        {
            "image_id": [str(PurePosixPath(k).with_suffix("")) for k in keys],
            "path": image_paths,
            "list_split": splits,
        }
    )
    return NusWideRelease(pd.concat([images, status], axis=1), tag_names, tags, concepts, concept_labels)


def lesa_categories(release: NusWideRelease) -> tuple[list[str], np.ndarray, list[str]]:
    """Seen names (tags minus concepts), the seen tag columns, and roles for seen + unseen."""
    concepts = set(release.concept_names)
    seen_cols = np.array(
        [i for i, tag in enumerate(release.tag_names) if tag not in concepts], dtype=np.int64
    )
    seen = [release.tag_names[i] for i in seen_cols]
    roles = ["seen"] * len(seen) + ["unseen"] * len(release.concept_names)
    return seen, seen_cols, roles


def assign_splits(list_split: pd.Series, val_fraction: float, seed: int) -> np.ndarray:
    """``train``/``val``/``test``/"": a seeded ``val_fraction`` of the train list becomes ``val``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    splits = list_split.to_numpy(dtype=object).copy()
    train = np.flatnonzero(splits == "train")
    val = np.random.default_rng(seed).permutation(train)[: int(round(val_fraction * len(train)))]
    splits[val] = "val"
    return splits


def drop_reasons(images: pd.DataFrame, placeholder_max_bytes: int) -> np.ndarray:
    """Why each image is unusable ("" when it is kept)."""
    reasons = images["problem"].to_numpy(dtype=object).copy()
    placeholder = (reasons == "") & (images["size_bytes"].to_numpy() <= placeholder_max_bytes)
    reasons[placeholder] = f"placeholder image (<= {placeholder_max_bytes} bytes)"
    reasons[(reasons == "") & (images["list_split"].to_numpy() == "")] = (
        "in neither the train nor the test list"
    )
    return reasons


def build_nus_wide_tables(release: NusWideRelease, config: NusWideConfig, seed: int) -> DatasetTables:
    """The data contracts: LESA categories, seeded val split, unusable images dropped and reported."""
    seen, seen_cols, roles = lesa_categories(release)
    names = seen + release.concept_names
    categories = make_categories(names, roles, "NUS-WIDE TagList1k + Concepts81")
    splits = assign_splits(release.images["list_split"], config.val_fraction, seed)
    reasons = drop_reasons(release.images, config.placeholder_max_bytes)
    keep = reasons == ""
    images = release.images[keep]
    matrix = np.concatenate([release.tags[:, seen_cols], release.concept_labels], axis=1)[keep]
    dropped = release.images[~keep]
    report = make_report(list(zip(dropped["image_id"], dropped["path"], reasons[~keep], strict=True)))
    logger.info(
        "NUS-WIDE: %d seen + %d unseen categories; %d images kept, %d dropped",
        len(seen),
        len(release.concept_names),
        int(keep.sum()),
        int((~keep).sum()),
    )
    ids = images["image_id"].tolist()
    return DatasetTables(
        image_manifest=make_manifest(ids, images["path"].tolist(), splits[keep].tolist()),
        labels=make_labels(ids, matrix, names),
        categories=categories,
        data_report=report,
    )
