"""A custom release -> the data contracts: tag vocabulary, splits, unseen roles, checked positives.

Splits: the split files when given (``train`` and ``test``; ``val`` drawn from train with a seed when it has
no file; images in no file are dropped and reported), else a seeded split stratified by tag
(:func:`stratified_split`), so that rare tags reach every split. Every category needs a positive image in
val and test, and a seen (or not yet assigned) category one in train: else the build fails naming the
category, the split and where the split came from.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from ovmlr.data.tables import SPLITS, DatasetTables, make_categories, make_labels, make_manifest, make_report

from .release import CustomRelease
from .vocabulary import TagFilter, filter_vocabulary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomConfig:
    """How the user's folder becomes the data contracts (``data_processing.sources.custom``)."""

    val_fraction: float = 0.1  # seeded split: share of images in val (also: val drawn from the train file)
    test_fraction: float = 0.2  # seeded split: share of images in test (ignored with split files)
    min_count: int = 5  # fewest images of a category
    normalise: bool = True  # NFKC, lower case, '_' and blanks -> one space, edge punctuation stripped
    merge_plurals: bool = True  # 'cats' -> 'cat' when both are tags
    stop_tags: tuple[str, ...] = ()  # tags that never become categories

    def __post_init__(self) -> None:
        if not (
            self.val_fraction > 0 and self.test_fraction > 0 and self.val_fraction + self.test_fraction < 1
        ):
            raise ValueError(
                "val_fraction and test_fraction must be positive with a sum below 1, "
                f"got {self.val_fraction} and {self.test_fraction}"
            )

    def tag_filter(self) -> TagFilter:
        """The vocabulary filter's part of the options."""
        names = {f.name for f in fields(TagFilter)}
        return TagFilter(**{name: getattr(self, name) for name in names})


def stratified_split(
    image_tags: Sequence[frozenset[str]], fractions: dict[str, float], seed: int
) -> np.ndarray:
    """A seeded multi-label split (iterative stratification, Sechidis et al. 2011), as split names.

    Images are placed rarest tag first; each goes to the split that still lacks that tag (a split with no
    positive of it first), then to the one furthest below its share. A tag on at least as many images as
    there are splits reaches every split.
    """
    rng = np.random.default_rng(seed)
    splits = list(fractions)
    counts: dict[str, int] = {}
    for tags in image_tags:
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    want = {t: {s: fractions[s] * n for s in splits} for t, n in counts.items()}
    have = {t: dict.fromkeys(splits, 0) for t in counts}
    room = {s: fractions[s] * len(image_tags) for s in splits}
    noise = rng.random(len(image_tags))
    rarest = [min((counts[t], t) for t in tags) if tags else (len(image_tags) + 1, "") for tags in image_tags]
    order = sorted(range(len(image_tags)), key=lambda i: (rarest[i][0], noise[i]))
    out = np.empty(len(image_tags), dtype=object)
    for i in order:
        tag = rarest[i][1]
        split = _choose_split(splits, room, have.get(tag), want.get(tag))
        out[i] = split
        room[split] -= 1
        for t in image_tags[i]:
            have[t][split] += 1
    return out


def _choose_split(
    splits: list[str], room: dict[str, float], have: dict[str, int] | None, want: dict[str, float] | None
) -> str:
    """The split an image goes to: one without its rarest tag yet, then the one furthest below that tag's
    share, then the one furthest below its own share (no tag: the last rule only)."""
    if have is None or want is None:
        return max(splits, key=lambda s: room[s])
    return max(splits, key=lambda s: (have[s] == 0, want[s] - have[s], room[s]))


def file_splits(release: CustomRelease, config: CustomConfig, seed: int) -> np.ndarray:
    """Split names from the split files ("" for an image in none); val drawn from train without a file."""
    files = release.split_files
    missing = sorted({"train", "test"} - set(files))
    if missing:
        raise ValueError(
            f"split_files: give at least train and test (missing {missing}), or none for a seeded split"
        )
    where = {image_id: split for split, ids in files.items() for image_id in ids}
    out = release.images["image_id"].map(where).fillna("").to_numpy(dtype=object)
    if "val" not in files:
        train = np.flatnonzero(out == "train")
        val = np.random.default_rng(seed).permutation(train)[: int(round(config.val_fraction * len(train)))]
        out[val] = "val"
    return out


def split_source(release: CustomRelease, config: CustomConfig, seed: int) -> dict[str, str]:
    """Where each split came from, for messages: its file, or the seeded split's settings."""
    seeded = (
        f"the seeded split (seed {seed}, val_fraction {config.val_fraction}, "
        f"test_fraction {config.test_fraction})"
    )
    return {split: release.split_sources.get(split, seeded) for split in SPLITS}


def unseen_roles(
    release: CustomRelease, names: list[str], config: CustomConfig, report: pd.DataFrame
) -> list[str]:
    """``dataset_role`` per category: ``unseen``/``seen`` from the unseen file, "" for all without one."""
    if not release.unseen:
        return [""] * len(names)
    spell = config.tag_filter().spell
    dropped = dict(zip(report["tag"].map(spell), report["reason"], strict=True))
    unseen = set()
    for raw, where in release.unseen:
        name = spell(raw)
        if name not in names:
            why = f" (dropped: {dropped[name]})" if name in dropped else ""
            raise ValueError(f"{where}: unseen category {raw!r} is not a category of the tag file{why}")
        unseen.add(name)
    if len(unseen) == len(names):
        raise ValueError(f"{release.unseen_source}: every category is unseen; keep some seen")
    return ["unseen" if name in unseen else "seen" for name in names]


def check_positives(
    labels: np.ndarray, splits: np.ndarray, names: list[str], roles: list[str], sources: dict
) -> None:
    """Every category has a positive in val and test, and a seen (or unassigned) one has one in train."""
    for split in SPLITS:
        counts = labels[splits == split].sum(axis=0)
        for name, role, count in zip(names, roles, counts, strict=True):
            if count == 0 and not (split == "train" and role == "unseen"):
                raise ValueError(
                    f"{sources[split]}: category {name!r} has no positive image in the {split} split; "
                    "move an image of it there, raise min_count, or drop it with stop_tags"
                )


def build_custom_tables(release: CustomRelease, config: CustomConfig, seed: int) -> DatasetTables:
    """The data contracts of the user's folder (see the module docstring)."""
    names, image_tags, vocab_report = filter_vocabulary(release.tags, config.tag_filter(), release.tag_source)
    roles = unseen_roles(release, names, config, vocab_report)
    fractions = {"train": 1 - config.val_fraction - config.test_fraction, "val": config.val_fraction}
    splits = (
        file_splits(release, config, seed)
        if release.split_files
        else stratified_split(image_tags, fractions | {"test": config.test_fraction}, seed)
    )
    images = release.images
    reasons = images["problem"].to_numpy(dtype=object).copy()
    reasons[(reasons == "") & (splits == "")] = "in no split file"
    keep = reasons == ""
    index = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(images), len(names)), dtype=np.int8)
    for i, tags in enumerate(image_tags):
        matrix[i, [index[t] for t in tags]] = 1
    check_positives(matrix[keep], splits[keep], names, roles, split_source(release, config, seed))
    dropped = images[~keep]
    ids = images.loc[keep, "image_id"].tolist()
    logger.info("custom: %d images kept, %d dropped (data_report)", int(keep.sum()), int((~keep).sum()))
    return DatasetTables(
        image_manifest=make_manifest(ids, images.loc[keep, "path"].tolist(), splits[keep].tolist()),
        labels=make_labels(ids, matrix[keep], names),
        categories=make_categories(names, roles, release.tag_source),
        data_report=make_report(list(zip(dropped["image_id"], dropped["path"], reasons[~keep], strict=True))),
        vocabulary_report=vocab_report,
    )
