"""The tag vocabulary filter of a custom dataset: normalise, drop stop tags, merge plurals, keep the frequent.

In order, each step recorded in ``vocabulary_report`` (``tag`` as written, ``items`` = images, ``reason``):

1. **Normalise** (``normalise: true``): Unicode NFKC, lower case, ``_`` and blank runs to one space,
   surrounding punctuation stripped (the tagged-art rule,
   :func:`~ovmlr.data.tagged_art.vocabulary.normalise_tag`); spellings that meet are one category
   (``Dog``, ``dog_`` -> ``dog``). Off: only surrounding blanks go.
2. **Drop** tags empty after normalisation, the configured ``stop_tags``, and the name ``image_id``.
3. **Merge plurals** (``merge_plurals: true``) into the singular when both are used (``cats`` -> ``cat``).
4. **Keep** tags on at least ``min_count`` images.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ovmlr.data.tables import VOCABULARY_REPORT_SCHEMA, empty_frame
from ovmlr.data.tagged_art.vocabulary import normalise_tag, plural_merges

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TagFilter:
    """How raw tags become categories."""

    normalise: bool = True  # NFKC, lower case, '_' and blanks to one space, edge punctuation stripped
    merge_plurals: bool = True  # 'cats' -> 'cat' when both are tags
    stop_tags: tuple[str, ...] = ()  # tags that never become categories (normalised like the tags)
    min_count: int = 5  # fewest images of a category

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {self.min_count}")

    def spell(self, tag: str) -> str:
        """Step 1 on one tag."""
        return normalise_tag(tag) if self.normalise else tag.strip()


def _dropped(tag: str, stop: frozenset[str]) -> str:
    """Step 2: why a normalised tag cannot be a category ("" when it can)."""
    if not tag:
        return "empty after normalisation"
    if tag in stop:
        return "stop tag (stop_tags)"
    if tag == "image_id":
        return "reserved name 'image_id'"
    return ""


def filter_vocabulary(
    raw_tags: Sequence[Sequence[str]], tag_filter: TagFilter, source: str
) -> tuple[list[str], list[frozenset[str]], pd.DataFrame]:
    """Categories, every image's categories, and the report of every tag that is not a category as written.

    Args:
        raw_tags: Per image, its tags as written.
        tag_filter: The filter's options.
        source: The tag file (named in errors).

    Returns:
        ``(names, image_categories, vocabulary_report)``: names sorted alphabetically.

    Raises:
        ValueError: No category is left (naming the file, ``min_count`` and the most frequent dropped tags).
    """
    stop = frozenset(tag_filter.spell(t) for t in tag_filter.stop_tags)
    spelled = [frozenset(tag_filter.spell(t) for t in tags) for tags in raw_tags]
    reasons = {tag: _dropped(tag, stop) for tags in spelled for tag in tags}
    kept = [frozenset(t for t in tags if not reasons[t]) for tags in spelled]
    merges = plural_merges(t for tags in kept for t in tags) if tag_filter.merge_plurals else {}
    kept = [frozenset(merges.get(t, t) for t in tags) for tags in kept]
    counts = Counter(t for tags in kept for t in tags)
    names = sorted(t for t, n in counts.items() if n >= tag_filter.min_count)
    final = {t: t for t in names}
    for tag, n in counts.items():
        if tag not in final:
            reasons[tag] = f"on {n} image(s), fewer than min_count {tag_filter.min_count}"
    report = vocabulary_report(raw_tags, tag_filter, reasons, merges, final)
    if not names:
        common = ", ".join(f"{t!r} ({n})" for t, n in counts.most_common(5)) or "none"
        raise ValueError(
            f"{source}: the tag vocabulary is empty after filtering (min_count {tag_filter.min_count}, "
            f"{len(stop)} stop tags); the most frequent tags: {common}. Lower min_count or tag more images."
        )
    image_categories = [frozenset(t for t in tags if t in final) for tags in kept]
    logger.info(
        "custom: %d categories from %d distinct tags; %d tag spellings dropped or merged (vocabulary_report)",
        len(names),
        len({t for tags in raw_tags for t in tags}),
        len(report),
    )
    return names, image_categories, report


def vocabulary_report(
    raw_tags: Sequence[Sequence[str]],
    tag_filter: TagFilter,
    reasons: dict[str, str],
    merges: dict[str, str],
    final: dict[str, str],
) -> pd.DataFrame:
    """One row per raw spelling that is not a category as written: dropped (reason) or merged (into what)."""
    images = Counter(t for tags in raw_tags for t in set(tags))
    rows = []
    for raw in sorted(images, key=lambda t: (-images[t], t)):
        tag = tag_filter.spell(raw)
        if reasons.get(tag):
            reason = reasons[tag]
        elif tag in merges and merges[tag] in final:
            reason = f"plural merged into {merges[tag]!r}"
        elif tag in merges:
            reason = reasons.get(merges[tag], "")
        elif raw != tag:
            reason = f"normalised to {tag!r}"
        else:
            continue
        rows.append((raw, images[raw], reason))
    if not rows:
        return empty_frame(VOCABULARY_REPORT_SCHEMA)
    return pd.DataFrame(rows, columns=list(VOCABULARY_REPORT_SCHEMA)).astype({"items": "int64"})
