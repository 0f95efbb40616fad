"""Captions of the demo CLIP's pretraining items, and which canvases each caption describes.

A caption names some of an item's categories ("a drawing of cat and pet.") or gives its title. In a batch of
canvases that each hold several items, a caption is a **positive** of every canvas that shows what it names,
not only of the canvas it was drawn for: "a drawing of animal." describes every canvas with an animal on it.
:func:`caption_positives` makes that mask; the contrastive loss then pulls a caption towards all of its
canvases (:mod:`ovmlr.backbones.loss`).

Shapes: N items, V categories (the pool's vocabulary), T captions, B canvases, G tiles per canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ovmlr.data.mosaic import BLANK

from .features import fill_templates

CAPTION_MODES = ("class_name", "tags")


@dataclass(frozen=True)
class CaptionBank:
    """Every caption the pretraining may draw, with what it names.

    Attributes:
        texts: ``[T]`` the caption strings.
        named: ``[T, V]`` bool: the categories a caption names (all False for a title).
        title_of: ``[T]`` int64: the item row a title caption describes, -1 for a category caption.
        of_item: ``[N, k]`` int64: the caption rows an item may be captioned by.
        item_tags: ``[N, V]`` bool: the categories of each item.
        vocabulary: ``V`` category names.
    """

    texts: tuple[str, ...]
    named: np.ndarray
    title_of: np.ndarray
    of_item: np.ndarray
    item_tags: np.ndarray
    vocabulary: tuple[str, ...]


def tag_phrase(tags: Sequence[str]) -> str:
    """``["a"]`` -> ``a``; ``["a", "b", "c"]`` -> ``a, b and c``."""
    return tags[0] if len(tags) == 1 else f"{', '.join(tags[:-1])} and {tags[-1]}"


def item_tag_lists(rows: pd.DataFrame, mode: str) -> list[list[str]]:
    """Each item's categories: its ``tags`` (``|``-joined) or, for single-class pools, its class name."""
    if mode == "class_name":
        return [[str(name)] for name in rows["class_name"]]
    return [[t for t in str(tags).split("|") if t] for tags in rows["tags"]]


def build_caption_bank(
    rows: pd.DataFrame, templates: Sequence[str], per_item: int, mode: str, rng: np.random.Generator
) -> CaptionBank:
    """The captions of the pool's training ``rows``.

    ``class_name`` (single-class pools): every template with every class name, shared by the items of a
    class. ``tags``: ``per_item`` captions per item, each with a template drawn at random: the first names all
    of its tags, the others a random non-empty subset in random order, except that the last is the item's
    title where it has one (items without a tag: the title only). Web captions mention some of what a
    picture shows, and CLIP learns from such partial descriptions.

    Raises:
        ValueError: An unknown ``mode``, or ``per_item`` < 1.
    """
    if mode not in CAPTION_MODES:
        raise ValueError(f"backbone.demo.training.captions must be one of {CAPTION_MODES}, got {mode!r}")
    if per_item < 1:
        raise ValueError(f"backbone.demo.training.captions_per_item must be >= 1, got {per_item}")
    tag_lists = item_tag_lists(rows, mode)
    vocabulary = tuple(sorted({t for tags in tag_lists for t in tags}))
    column = {name: v for v, name in enumerate(vocabulary)}
    item_tags = np.zeros((len(rows), len(vocabulary)), dtype=bool)
    for n, tags in enumerate(tag_lists):
        item_tags[n, [column[t] for t in tags]] = True
    if mode == "class_name":
        return _class_name_bank(templates, vocabulary, item_tags)
    texts, named, title_of = [], [], []
    for n, (tags, title) in enumerate(zip(tag_lists, rows["title"].astype(str), strict=True)):
        for j in range(per_item):
            if not tags or (j == per_item - 1 and per_item > 1 and title.strip()):
                subject, names, item = " ".join(title.lower().split()), [], n
            else:
                size = len(tags) if j == 0 else int(rng.integers(1, len(tags) + 1))
                names, item = list(rng.choice(tags, size=size, replace=False)), -1
                subject = tag_phrase(names)
            texts.append(templates[int(rng.integers(len(templates)))].format(subject))
            named.append([column[t] for t in names])
            title_of.append(item)
    named_mask = np.zeros((len(texts), len(vocabulary)), dtype=bool)
    for t, columns in enumerate(named):
        named_mask[t, columns] = True
    of_item = np.arange(len(texts), dtype=np.int64).reshape(len(rows), per_item)
    return CaptionBank(
        tuple(texts), named_mask, np.asarray(title_of, np.int64), of_item, item_tags, vocabulary
    )


def _class_name_bank(
    templates: Sequence[str], classes: tuple[str, ...], item_tags: np.ndarray
) -> CaptionBank:
    """Template × class captions (template-major); an item may take any template of its class."""
    t, c = len(templates), len(classes)
    named = np.tile(np.eye(c, dtype=bool), (t, 1))  # [T*C, C]
    item_class = item_tags.argmax(axis=1)
    of_item = np.arange(t)[None, :] * c + item_class[:, None]  # [N, T]
    return CaptionBank(
        tuple(fill_templates(templates, classes)),
        named,
        np.full(t * c, -1, np.int64),
        of_item,
        item_tags,
        classes,
    )


def canvas_tags(layout: np.ndarray, item_tags: np.ndarray) -> np.ndarray:
    """``[B, V]`` bool: the union of the categories of a canvas's items.

    Shapes:
        layout ``[B, G]`` item rows or ``BLANK``, item_tags ``[N, V]`` -> ``[B, V]``.
    """
    out = np.zeros((len(layout), item_tags.shape[1]), dtype=bool)
    for tile in range(layout.shape[1]):
        rows = np.flatnonzero(layout[:, tile] != BLANK)
        out[rows] |= item_tags[layout[rows, tile]]
    return out


def caption_positives(bank: CaptionBank, captions: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """``[B, B]`` bool: whether caption ``j`` (drawn for canvas ``j``) describes canvas ``i``.

    A category caption describes every canvas showing all of the categories it names; a title caption
    describes every canvas holding its item. Each caption describes its own canvas (the diagonal).

    Shapes:
        captions ``[B]`` caption rows, layout ``[B, G]`` -> ``[B, B]`` (rows: canvases, columns: captions).
    """
    shown = canvas_tags(layout, bank.item_tags)  # [B, V]
    named = bank.named[captions]  # [B, V]
    missing = named.astype(np.int32) @ (~shown).astype(np.int32).T  # [B captions, B canvases]
    by_tags = (missing == 0).T & named.any(axis=1)[None, :]
    title = bank.title_of[captions]  # [B]
    holds = (layout[:, :, None] == title[None, None, :]).any(axis=1) & (title >= 0)[None, :]
    positives = by_tags | holds
    positives[np.arange(len(captions)), np.arange(len(captions))] = True
    return positives
