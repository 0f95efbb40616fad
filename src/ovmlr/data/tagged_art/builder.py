"""Tagged-art tables: vocabulary, disjoint item pools, and multi-label mosaics with render augmentation.

From a :class:`~ovmlr.data.tagged_art.release.TaggedArtRelease`, deterministically given the seed:

1. **Deduplicate** items by their pixels (icon themes and star shapes repeat): the first item id is kept, the
   copies are listed in ``data_report``, beside the items that did not render (``release.skipped``).
2. **Vocabulary** (:mod:`~ovmlr.data.tagged_art.vocabulary`): normalised tags, meta tags dropped, plurals
   merged, tags on at least ``min_items_per_tag`` items kept, always-co-occurring tags merged.
3. **Rebalance**: items sharing one exact tag set are capped at ``max_items_per_tag_set`` (seeded sample),
   so that a few thousand star shapes or one icon theme do not swamp the data.
4. **Pools**: the items are shuffled and cut into disjoint pools: ``pretrain`` (the demo CLIP's image-caption
   pairs; a seeded ``pretrain_heldout_fraction`` of its groups, drawn within each source, is held out),
   ``train``, ``val`` and ``test``. A category
   with fewer than ``min_train_items`` items in the train pool, or fewer than ``min_eval_items`` in val or in
   test, is dropped (``vocabulary_report``): it could be neither learned nor measured.
5. **Mosaics**: each image is a ``grid_size × grid_size`` grid of tiles, a tile blank with
   ``blank_probability`` (at least one item per image); items are drawn from the split's own pool, each
   about equally often, and drawn at a random scale and position in their tile on a random light
   background, so that no two images are pixel copies. Labels are the union of the items' tags (1) and 0
   elsewhere: the sources never mark a tag as verified absent or unknown, so there is no -1.

**Style shift** (``style_shift``, off by default; :mod:`~ovmlr.data.tagged_art.style_shift`): an item's style
is its ``source`` (``openclipart``, ``noto-emoji``, ``openmoji``). The test pool is then every item of the
``test_styles``; the items of the training styles (``train_styles``, by default every other style) are cut by
group into pretrain, val and train in the default's proportions (:func:`assign_style_pools`), and items of a
style in neither list are used nowhere (nor in the demo CLIP's pretraining). The vocabulary is built as above;
a category without an item in the test styles is dropped (``vocabulary_report``: "no item in the test
styles"). An emoji's drawings in the training styles still share one pool, while its test-style drawing is
tested: the same meaning in another rendering is the shift measured. No item, and after deduplication no
drawing, is on both sides. Seeds, sizes and rendering are the default's; with ``style_shift`` None the tables
are the default build's, byte for byte.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from ovmlr.data.mosaic import BLANK, plan_occupancy
from ovmlr.data.tables import (
    LAYOUT_COLUMNS,
    PRETRAIN_COLUMNS,
    VOCABULARY_REPORT_SCHEMA,
    DatasetTables,
    empty_frame,
    make_categories,
    make_labels,
    make_manifest,
    make_report,
)

from .release import TaggedArtRelease
from .style_shift import StyleShift, style_sides
from .vocabulary import clean_item_tags, frequent_tags, merge_cooccurring

POOLS = ("pretrain", "train", "val", "test")


@dataclass(frozen=True)
class TaggedArtConfig:
    """How the vocabulary, the pools and the mosaics are made (``data_processing.source``)."""

    mosaic_dir: str  # manifest path = <mosaic_dir>/<image_id>.png
    stop_tags: tuple[str, ...] = ()  # meta tags that say nothing about the drawing
    min_tag_length: int = 3  # fewest letters of a category name
    min_items_per_tag: int = 15  # a tag on fewer distinct items is not a category
    max_items_per_tag_set: int = 25  # cap on items sharing one exact tag set
    pretrain_fraction: float = 0.45  # share of the items in each pool; train is the rest
    val_fraction: float = 0.10
    test_fraction: float = 0.15
    pretrain_heldout_fraction: float = 0.10  # of the pretrain pool's groups, per source: the zero-shot check
    min_train_items: int = 3  # a category needs this many distinct items in the train pool
    min_eval_items: int = 1  # ... and in each of the val and test pools
    grid_size: int = 2  # n: an image is an n×n grid of tiles
    tile_size: int = 32  # pixels per tile side; images are n*tile_size square
    blank_probability: float = 0.25  # chance a tile is blank (at least one item per image)
    min_scale: float = 0.6  # an item covers min_scale..1 of its tile's side
    background_min: int = 150  # background RGB drawn uniformly in [background_min, 255]
    train_images: int = 8_000
    val_images: int = 1_000
    test_images: int = 2_000
    style_shift: StyleShift | None = None  # train on some styles, test on others (see above); None: off

    def __post_init__(self) -> None:
        """A ``style_shift`` given as parameters (a mapping) becomes a :class:`StyleShift`."""
        if self.style_shift is not None and not isinstance(self.style_shift, StyleShift):
            object.__setattr__(self, "style_shift", StyleShift.from_options(self.style_shift))


def build_tagged_art_tables(release: TaggedArtRelease, config: TaggedArtConfig, seed: int) -> DatasetTables:
    """The data contracts of the tagged-art benchmark (see the module docstring)."""
    check_config(config)
    streams = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    cap_rng, pool_rng, train_rng, val_rng, test_rng, heldout_rng = streams
    items, report = deduplicate(release.items)
    shift = config.style_shift
    sides = None if shift is None else style_sides(items["source"].to_numpy(), shift)
    tags, vocab_report = item_vocabulary(items, config)
    keep = np.flatnonzero([bool(t) for t in tags])
    keep = cap_tag_sets(keep, tags, config.max_items_per_tag_set, cap_rng)
    groups = items["group_id"].to_numpy()
    pools = (
        assign_pools(keep, groups, config, pool_rng)
        if sides is None
        else assign_style_pools(keep, groups, sides, config, pool_rng)
    )
    names, tags, dropped = final_vocabulary(tags, pools, config, () if shift is None else shift.test_styles)
    vocab_report += dropped
    pools = {name: rows[[bool(tags[i]) for i in rows]] for name, rows in pools.items()}
    extra = pretrain_extra(items, tags, pools, keep, None if sides is None else sides[0])
    item_labels = item_label_matrix(tags, names)
    counts = {"train": config.train_images, "val": config.val_images, "test": config.test_images}
    parts = [
        draw_split(split, pools[split], count, config, rng)
        for (split, count), rng in zip(counts.items(), (train_rng, val_rng, test_rng), strict=True)
    ]
    heldout = heldout_rows(items, pools["pretrain"], config.pretrain_heldout_fraction, heldout_rng)
    size = release.raster_size
    pixels = np.frombuffer(b"".join(items["pixels"]), dtype=np.uint8).reshape(len(items), size, size, 4)
    return DatasetTables(
        image_manifest=make_manifest(
            [i for p in parts for i in p.image_ids],
            [f"{config.mosaic_dir.rstrip('/')}/{i}.png" for p in parts for i in p.image_ids],
            [p.split for p in parts for _ in p.image_ids],
        ),
        labels=make_labels(
            [i for p in parts for i in p.image_ids],
            np.concatenate([p.labels(item_labels) for p in parts]),
            names,
        ),
        categories=make_categories(names, [""] * len(names), "tagged-art vocabulary"),
        pretrain_pool=pretrain_table(items, pools["pretrain"], extra, tags, heldout, release.raster_size),
        data_report=pd.concat([release.skipped, make_report(report)], ignore_index=True),
        mosaic_layout=pd.concat([p.layout_frame(items) for p in parts], ignore_index=True)[LAYOUT_COLUMNS],
        image_files=mosaic_files(parts, pixels, config.tile_size),
        vocabulary_report=pd.DataFrame(vocab_report, columns=list(VOCABULARY_REPORT_SCHEMA))
        if vocab_report
        else empty_frame(VOCABULARY_REPORT_SCHEMA),
    )


def item_label_matrix(tags: list[frozenset[str]], names: list[str]) -> np.ndarray:
    """``[N, C]`` int8: 1 where an item carries a category of ``names``."""
    index = {name: c for c, name in enumerate(names)}
    labels = np.zeros((len(tags), len(names)), dtype=np.int8)
    for row, row_tags in enumerate(tags):
        labels[row, [index[t] for t in row_tags]] = 1
    return labels


def mosaic_files(parts: list[SplitDraw], pixels: np.ndarray, tile: int) -> dict[str, functools.partial]:
    """``image_id`` -> a callable rendering that mosaic from the items' RGBA ``pixels`` ``[N, S, S, 4]``."""
    return {
        image_id: functools.partial(
            render_mosaic, pixels.__getitem__, p.layout[m], p.scales[m], p.offsets[m], p.backgrounds[m], tile
        )
        for p in parts
        for m, image_id in enumerate(p.image_ids)
    }


def check_config(config: TaggedArtConfig) -> None:
    """Fractions in [0, 1) that leave a train pool; a scale in (0, 1]."""
    fractions = (config.pretrain_fraction, config.val_fraction, config.test_fraction)
    if min(fractions) <= 0 or sum(fractions) >= 1:
        raise ValueError(
            "data_processing.source: pretrain_fraction, val_fraction and test_fraction must be > 0 and sum "
            f"to less than 1 (the rest is the train pool), got {fractions}"
        )
    if not 0 < config.min_scale <= 1:
        raise ValueError(f"data_processing.source.min_scale must be in (0, 1], got {config.min_scale}")


def deduplicate(items: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Items with unique pixels (first item id kept) and report rows for the copies."""
    order = items.sort_values("item_id", kind="stable").reset_index(drop=True)
    digests = order["pixels"].map(lambda b: hashlib.sha1(b).hexdigest())
    first = digests.drop_duplicates()
    owner = dict(zip(first, order.loc[first.index, "item_id"], strict=True))
    copies = order.index.difference(first.index)
    report = [
        (order.at[i, "item_id"], order.at[i, "path"], f"pixel copy of {owner[digests[i]]}") for i in copies
    ]
    return order.loc[first.index].reset_index(drop=True), report


def item_vocabulary(
    items: pd.DataFrame, config: TaggedArtConfig
) -> tuple[list[frozenset[str]], list[tuple[str, int, str]]]:
    """Per item, its tags restricted to the frequent, merged vocabulary; and the report of dropped tags."""
    cleaned, reasons = clean_item_tags(
        items["tags"].tolist(), config.stop_tags, items["creator"].unique().tolist(), config.min_tag_length
    )
    counts = Counter(t for tags in cleaned for t in tags)
    frequent = frequent_tags(cleaned, config.min_items_per_tag)
    aliases = merge_cooccurring(cleaned, frequent)
    report = [(t, counts.get(t, 0), r) for t, r in sorted(reasons.items())]
    report += [
        (t, n, f"on fewer than {config.min_items_per_tag} items")
        for t, n in sorted(counts.items())
        if t not in frequent
    ]
    report += [
        (alias, counts[alias], f"always together with {head!r}: merged")
        for alias, head in sorted(aliases.items())
    ]
    tags = [frozenset(aliases.get(t, t) for t in row if t in frequent) for row in cleaned]
    return tags, report


def cap_tag_sets(
    rows: np.ndarray, tags: list[frozenset[str]], cap: int, rng: np.random.Generator
) -> np.ndarray:
    """``rows`` with at most ``cap`` items per exact tag set (a seeded sample of the larger sets), sorted."""
    groups: dict[frozenset[str], list[int]] = {}
    for row in rows:
        groups.setdefault(tags[row], []).append(int(row))
    kept = []
    for members in groups.values():
        kept += members if len(members) <= cap else rng.choice(members, size=cap, replace=False).tolist()
    return np.sort(np.asarray(kept, dtype=np.int64))


def assign_pools(
    rows: np.ndarray, groups: np.ndarray, config: TaggedArtConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """A seeded shuffle of the items' groups cut into the four disjoint pools (item rows, each sorted).

    All items of a group (an emoji in every style) go to the same pool, so no drawing of a training
    emoji is tested.
    """
    fractions = (config.pretrain_fraction, config.val_fraction, config.test_fraction)
    return cut_groups(rows, groups, fractions, rng)


def assign_style_pools(
    rows: np.ndarray,
    groups: np.ndarray,
    sides: tuple[np.ndarray, np.ndarray],
    config: TaggedArtConfig,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The pools under a style shift: ``test`` is every row of a test style; the rows of a training style
    are cut by group into pretrain, val and train in the default's proportions (the test share spread over
    them: ``pretrain_fraction / (1 - test_fraction)``, ...); rows of neither side are in no pool. A group's
    training-style drawings share one pool while its test-style drawings are tested: one emoji, another
    rendering, is the shift measured; no item is on both sides.

    Args:
        rows: Candidate item rows.
        groups: ``[N]`` the items' groups.
        sides: ``[N]`` bool masks of the items of a training style and of a test style (:func:`style_sides`).
        config: The pool fractions.
        rng: The pool generator.
    """
    train_side, test_side = sides
    rest = 1.0 - config.test_fraction
    fractions = (config.pretrain_fraction / rest, config.val_fraction / rest, 0.0)
    pools = cut_groups(rows[train_side[rows]], groups, fractions, rng)
    return pools | {"test": np.sort(rows[test_side[rows]])}


def cut_groups(
    rows: np.ndarray, groups: np.ndarray, fractions: tuple[float, float, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """A seeded shuffle of the rows' groups cut into pretrain, val and test by ``fractions`` (train: the
    rest); the pools' item rows, each sorted."""
    unique = np.unique(groups[rows])
    order = rng.permutation(unique)
    cuts = np.cumsum(fractions) * len(order)
    parts = np.split(order, np.round(cuts).astype(int))
    pool_of = {
        g: pool for pool, part in zip(("pretrain", "val", "test", "train"), parts, strict=True) for g in part
    }
    member = np.asarray([pool_of[g] for g in groups[rows]])
    return {pool: np.sort(rows[member == pool]) for pool in POOLS}


def final_vocabulary(
    tags: list[frozenset[str]],
    pools: dict[str, np.ndarray],
    config: TaggedArtConfig,
    test_styles: tuple[str, ...] = (),
) -> tuple[list[str], list[frozenset[str]], list[tuple[str, int, str]]]:
    """Categories with enough items in the train, val and test pools; item tags restricted to them.

    ``test_styles`` (under a style shift) only words the reason of a category short in test.
    """
    names = sorted({t for rows in pools.values() for r in rows for t in tags[r]})
    minimum = {"train": config.min_train_items, "val": config.min_eval_items, "test": config.min_eval_items}
    counts = {pool: Counter(t for r in pools[pool] for t in tags[r]) for pool in minimum}
    report, kept = [], []
    for name in names:
        reason = shortage({p: counts[p][name] for p in minimum}, minimum, test_styles)
        if reason:
            report.append((name, sum(counts[p][name] for p in minimum), reason))
        else:
            kept.append(name)
    allowed = set(kept)
    return kept, [frozenset(t & allowed) for t in tags], report


def shortage(counts: dict[str, int], minimum: dict[str, int], test_styles: tuple[str, ...] = ()) -> str:
    """Why a category with ``counts`` items per pool is dropped ("" when every pool has its ``minimum``)."""
    short = {pool: n for pool, n in counts.items() if n < minimum[pool]}
    parts = []
    if test_styles and "test" in short:
        n, styles = short.pop("test"), ", ".join(test_styles)
        parts.append(f"{n or 'no'} item{'s' * (n > 1)} in the test styles ({styles})")
    if short:
        parts.append(f"too few items in a pool ({', '.join(f'{n} in {p}' for p, n in short.items())})")
    return "; ".join(parts)


@dataclass(frozen=True)
class SplitDraw:
    """The mosaics of one split: item rows per tile and how each tile is drawn."""

    split: str
    image_ids: list[str]
    layout: np.ndarray  # [M, n*n] item row (index into the deduplicated items) or BLANK
    scales: np.ndarray  # [M, n*n] float: item side / tile side
    offsets: np.ndarray  # [M, n*n, 2] float in [0, 1]: position of the item in its tile's free room
    backgrounds: np.ndarray  # [M, 3] uint8

    def labels(self, item_labels: np.ndarray) -> np.ndarray:
        """``[M, C]`` int8: union of the tiles' item labels."""
        filled = self.layout != BLANK
        out = np.zeros((len(self.layout), item_labels.shape[1]), dtype=np.int8)
        for tile in range(self.layout.shape[1]):
            rows = np.flatnonzero(filled[:, tile])
            out[rows] |= item_labels[self.layout[rows, tile]]
        return out

    def layout_frame(self, items: pd.DataFrame) -> pd.DataFrame:
        """Filled tiles: ``image_id``, ``tile``, ``item_id``, ``class_id`` (-1: items are multi-tag)."""
        rows, tiles = np.nonzero(self.layout != BLANK)
        return pd.DataFrame(
            {
                "image_id": np.asarray(self.image_ids, dtype=object)[rows],
                "tile": tiles.astype(np.int64),
                "item_id": items["item_id"].to_numpy()[self.layout[rows, tiles]],
                "class_id": np.full(len(rows), -1, dtype=np.int64),
            }
        )


def draw_split(
    split: str, pool: np.ndarray, count: int, config: TaggedArtConfig, rng: np.random.Generator
) -> SplitDraw:
    """``count`` mosaics from ``pool`` (item rows), each item used about equally often."""
    if len(pool) == 0:
        raise ValueError(f"tagged art: the {split} pool has no item with a category; lower min_items_per_tag")
    occupied = plan_occupancy(count, config.grid_size, config.blank_probability, rng)
    needed = int(occupied.sum())
    sequence = np.concatenate([rng.permutation(pool) for _ in range(-(-needed // len(pool)))])[:needed]
    layout = np.full(occupied.shape, BLANK, dtype=np.int64)
    layout[occupied] = sequence
    return SplitDraw(
        split=split,
        image_ids=[f"{split}_{i:05d}" for i in range(count)],
        layout=layout,
        scales=rng.uniform(config.min_scale, 1.0, size=occupied.shape),
        offsets=rng.uniform(0.0, 1.0, size=(*occupied.shape, 2)),
        backgrounds=rng.integers(config.background_min, 256, size=(count, 3), dtype=np.int64).astype(
            np.uint8
        ),
    )


def render_mosaic(
    pixels_of, layout: np.ndarray, scales: np.ndarray, offsets: np.ndarray, background: np.ndarray, tile: int
) -> Image.Image:
    """One mosaic (RGB): each item scaled and placed in its tile over the background.

    Args:
        pixels_of: ``rows -> [len(rows), S, S, 4]`` RGBA items (``TaggedArtRelease.pixels``).
        layout: ``[n*n]`` item rows or BLANK; scales ``[n*n]``; offsets ``[n*n, 2]``; background ``[3]``.
        tile: Tile side in pixels.
    """
    grid = int(round(len(layout) ** 0.5))
    canvas = Image.new("RGB", (grid * tile, grid * tile), tuple(int(c) for c in background))
    filled = np.flatnonzero(layout != BLANK)
    rgba = pixels_of(layout[filled]) if len(filled) else []
    for k, t in enumerate(filled):
        side = max(4, round(scales[t] * tile))
        item = Image.fromarray(rgba[k], mode="RGBA").resize((side, side), Image.Resampling.LANCZOS)
        x = (t % grid) * tile + round(offsets[t, 0] * (tile - side))
        y = (t // grid) * tile + round(offsets[t, 1] * (tile - side))
        canvas.paste(item, (x, y), item)
    return canvas


def pretrain_extra(
    items: pd.DataFrame,
    tags: list[frozenset[str]],
    pools: dict[str, np.ndarray],
    kept: np.ndarray,
    trainable: np.ndarray | None = None,
) -> np.ndarray:
    """Items that only the demo CLIP sees: those left out of the pools (over a tag-set cap, or without a
    vocabulary tag but with a title), unless their group (an emoji in another style) is in train, val or
    test, or (under a style shift) they are not of a training style (``trainable``: ``[N]`` bool; None:
    every item). Web-scale pretraining also sees far more than the downstream data."""
    groups = items["group_id"].to_numpy()
    downstream = {g for pool in ("train", "val", "test") for g in groups[pools[pool]]}
    left_out = np.setdiff1d(np.arange(len(items)), kept)
    if trainable is not None:
        left_out = left_out[trainable[left_out]]
    titled = items["title"].str.strip().astype(bool).to_numpy()
    usable = [r for r in left_out if groups[r] not in downstream and (tags[r] or titled[r])]
    return np.asarray(usable, dtype=np.int64)


def heldout_rows(
    items: pd.DataFrame, rows: np.ndarray, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """The pretrain pool's rows held out for the demo CLIP's zero-shot check: a seeded ``fraction`` of the
    pool's groups (an emoji's drawings stay together), drawn within each source (the group's sources, e.g.
    ``noto-emoji+openmoji``), so the check sees every style in its share of the pool. Sorted."""
    groups = items["group_id"].to_numpy()[rows]
    sources = items["source"].to_numpy()[rows]
    signature: dict[str, set[str]] = {}
    for group, source in zip(groups, sources, strict=True):
        signature.setdefault(group, set()).add(str(source))
    strata: dict[str, list[str]] = {}
    for group in sorted(signature):
        strata.setdefault("+".join(sorted(signature[group])), []).append(group)
    held: set[str] = set()
    for stratum in sorted(strata):
        members = strata[stratum]
        held.update(rng.permutation(members)[: int(round(fraction * len(members)))].tolist())
    return np.sort(rows[np.isin(groups, sorted(held))])


def pretrain_table(
    items: pd.DataFrame,
    rows: np.ndarray,
    extra: np.ndarray,
    tags: list[frozenset[str]],
    heldout: np.ndarray,
    raster_size: int,
) -> pd.DataFrame:
    """The demo CLIP's items: RGBA pixels, vocabulary tags (all categories, unseen included) and title.

    The pretrain pool's ``heldout`` rows (:func:`heldout_rows`) are the zero-shot check's; the others and
    the ``extra`` items (:func:`pretrain_extra`) train. ``class_id`` numbers the distinct tag sets (items
    without a tag: one each); ``class_name`` is the tag set, ``", "``-joined.
    """
    train_rows = np.setdiff1d(np.concatenate([rows, extra]), heldout)
    order = np.concatenate([train_rows, heldout]).astype(np.int64)
    split = np.where(np.arange(len(order)) < len(train_rows), "train", "heldout")
    tag_sets = [", ".join(sorted(tags[r])) or f"<{items.at[r, 'item_id']}>" for r in order]
    set_ids = {s: i for i, s in enumerate(sorted(set(tag_sets)))}
    frame = pd.DataFrame(
        {
            "item_id": items["item_id"].to_numpy()[order],
            "class_id": np.asarray([set_ids[s] for s in tag_sets], dtype=np.int64),
            "class_name": tag_sets,
            "split": split,
            "pixels": items["pixels"].to_numpy()[order],
            "height": np.full(len(order), raster_size, dtype=np.int64),
            "width": np.full(len(order), raster_size, dtype=np.int64),
            "channels": np.full(len(order), 4, dtype=np.int64),
            "tags": ["|".join(sorted(tags[r])) for r in order],
            "title": items["title"].to_numpy()[order],
        }
    )
    return frame[PRETRAIN_COLUMNS]
