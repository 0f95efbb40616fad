"""Fashion-MNIST mosaics: the offline default dataset.

The Fashion-MNIST train split is partitioned, with a seed, into three disjoint sets of items: a
pretraining pool of single items (``train`` / ``heldout``, all 10 classes) for the demo backbone, and the
items drawn into the train and val mosaics. Test mosaics are drawn from the Fashion-MNIST test split.
Every item is used at most once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from .mosaic import BLANK, compose_mosaics, fill_layout, layout_labels, plan_occupancy
from .tables import (
    LAYOUT_COLUMNS,
    PRETRAIN_COLUMNS,
    DatasetTables,
    make_categories,
    make_labels,
    make_manifest,
)

# The 10 Fashion-MNIST classes in label order, spelled so that they read well inside a text prompt.
FASHION_MNIST_CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


@dataclass(frozen=True)
class FashionMNISTRelease:
    """The four Fashion-MNIST IDX arrays (items ``[N, 28, 28]`` uint8, labels ``[N]``)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@dataclass(frozen=True)
class FashionMNISTConfig:
    """How the mosaics and the pretraining pool are drawn."""

    mosaic_dir: str  # folder the PNG files are written to; manifest path = <mosaic_dir>/<image_id>.png
    class_names: tuple[str, ...] = FASHION_MNIST_CLASSES  # one prompt-friendly name per label value
    grid_size: int = 2  # n: an image is an n×n grid of 28×28 tiles
    blank_probability: float = 0.25  # chance a tile is blank (at least one item per image)
    pretrain_train_items: int = 20_000  # single items to train the demo backbone
    pretrain_heldout_items: int = 2_000  # single items to evaluate it
    train_images: int = 8_000  # mosaics per split
    val_images: int = 1_000
    test_images: int = 2_000


def build_fashion_mnist_tables(
    release: FashionMNISTRelease, config: FashionMNISTConfig, seed: int
) -> DatasetTables:
    """Draw the pretraining pool and the train/val/test mosaics.

    Deterministic given ``seed``; the pool, train/val and test use independent random streams.
    """
    check_label_range(release, len(config.class_names))
    pool_rng, trainval_rng, test_rng, order_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    order = order_rng.permutation(len(release.train_labels))
    n_pool = config.pretrain_train_items + config.pretrain_heldout_items
    if n_pool > len(order):
        raise ValueError(f"the pretraining pool needs {n_pool} items; the train split has {len(order)}")
    pool = pretrain_pool(release, order[:n_pool], config)
    trainval = draw_split_layouts(
        order[n_pool:], config.train_images + config.val_images, config, trainval_rng, "train+val"
    )
    test = draw_split_layouts(
        test_rng.permutation(len(release.test_labels)), config.test_images, config, test_rng, "test"
    )
    parts = [
        ("train", trainval[: config.train_images], release.train_images, release.train_labels),
        ("val", trainval[config.train_images :], release.train_images, release.train_labels),
        ("test", test, release.test_images, release.test_labels),
    ]
    return assemble_mosaic_tables(parts, pool, config)


def check_label_range(release: FashionMNISTRelease, num_classes: int) -> None:
    """Every label must index one of the configured class names."""
    for split, labels in (("train", release.train_labels), ("test", release.test_labels)):
        bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if bad.size:
            raise ValueError(
                f"Fashion-MNIST {split} label {int(labels[bad[0]])} at item {int(bad[0])} is outside the "
                f"{num_classes} configured class_names"
            )


def draw_split_layouts(
    items: np.ndarray, num_images: int, config: FashionMNISTConfig, rng: np.random.Generator, split: str
) -> np.ndarray:
    """Layouts ``[M, n*n]`` for one split, filled from ``items`` in order."""
    occupied = plan_occupancy(num_images, config.grid_size, config.blank_probability, rng)
    try:
        return fill_layout(occupied, items)
    except ValueError as exc:
        raise ValueError(
            f"Fashion-MNIST {split} mosaics: {exc}; lower the mosaic counts or the pretraining pool, "
            "or raise blank_probability"
        ) from exc


def pretrain_pool(
    release: FashionMNISTRelease, indices: np.ndarray, config: FashionMNISTConfig
) -> pd.DataFrame:
    """Single items of the train split: the first ``pretrain_train_items`` are ``train``, then ``heldout``."""
    classes = release.train_labels[indices].astype(np.int64)
    splits = np.where(np.arange(len(indices)) < config.pretrain_train_items, "train", "heldout")
    for split in ("train", "heldout"):
        missing = set(range(len(config.class_names))) - set(classes[splits == split].tolist())
        if missing:
            names = sorted(config.class_names[c] for c in missing)
            raise ValueError(f"pretraining pool split {split!r} has no item of class(es) {names}; enlarge it")
    _, h, w = release.train_images.shape
    frame = pd.DataFrame(
        {
            "item_id": [f"train-{i:05d}" for i in indices],
            "class_id": classes,
            "class_name": [config.class_names[c] for c in classes],
            "split": splits,
            "pixels": [release.train_images[i].tobytes() for i in indices],
            "height": np.full(len(indices), h, dtype=np.int64),
            "width": np.full(len(indices), w, dtype=np.int64),
            "channels": np.ones(len(indices), dtype=np.int64),
            "tags": [config.class_names[c] for c in classes],
            "title": [config.class_names[c] for c in classes],
        }
    )
    return frame[PRETRAIN_COLUMNS]


def assemble_mosaic_tables(
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    pool: pd.DataFrame,
    config: FashionMNISTConfig,
) -> DatasetTables:
    """Manifest, labels, layout and lazily rendered PNGs for ``(split, layout, pixels, classes)`` parts."""
    ids, splits, label_blocks, layout_rows, files = [], [], [], [], {}
    for split, layout, pixels, classes in parts:
        split_ids = [f"{split}_{i:05d}" for i in range(len(layout))]
        mosaics = compose_mosaics(pixels, layout)
        ids += split_ids
        splits += [split] * len(layout)
        label_blocks.append(layout_labels(layout, classes.astype(np.int64), len(config.class_names)))
        layout_rows.append(layout_frame(split_ids, layout, classes, "test" if split == "test" else "train"))
        files.update(
            {image_id: functools.partial(Image.fromarray, mosaics[i]) for i, image_id in enumerate(split_ids)}
        )
    mosaic_dir = config.mosaic_dir.rstrip("/")
    return DatasetTables(
        image_manifest=make_manifest(ids, [f"{mosaic_dir}/{i}.png" for i in ids], splits),
        labels=make_labels(ids, np.concatenate(label_blocks), config.class_names),
        categories=make_categories(config.class_names, [""] * len(config.class_names), "class_names"),
        pretrain_pool=pool,
        mosaic_layout=pd.concat(layout_rows, ignore_index=True)[LAYOUT_COLUMNS],
        image_files=files,
    )


def layout_frame(
    image_ids: list[str], layout: np.ndarray, classes: np.ndarray, source_split: str
) -> pd.DataFrame:
    """Filled tiles: ``image_id``, ``tile``, ``item_id`` (``<source split>-<index>``), ``class_id``."""
    rows, tiles = np.nonzero(layout != BLANK)
    items = layout[rows, tiles]
    return pd.DataFrame(
        {
            "image_id": np.asarray(image_ids, dtype=object)[rows],
            "tile": tiles.astype(np.int64),
            "item_id": [f"{source_split}-{i:05d}" for i in items],
            "class_id": classes[items].astype(np.int64),
        }
    )
