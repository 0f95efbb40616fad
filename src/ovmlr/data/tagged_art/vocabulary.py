"""From free-form tags to a category vocabulary: normalise, drop meta tags, merge, keep the frequent.

The filter, in order (each step is recorded in ``vocabulary_report`` with its reason):

1. **Normalise**: Unicode NFKC, lower case, ``_`` and runs of blanks to one space, surrounding punctuation
   stripped (``North_America`` -> ``north america``).
2. **Drop** tags that say nothing about the drawing: the configured ``stop_tags`` (file-level meta tags such
   as ``hash``, ``magick``, ``unsorted``, icon-theme names), tags with a digit, tags shorter than
   ``min_length`` letters, and tags equal to an author's name (``dc:creator`` of any item).
3. **Merge plurals** into the singular when both are used (``stars`` -> ``star``, ``flowers`` -> ``flower``).
4. **Keep** tags on at least ``min_items`` distinct items (counted by the caller after deduplication).
5. **Merge tags that always co-occur** (identical item sets): one category, named by the most frequent
   spelling's shortest member (ties: alphabetical); the others are listed as its aliases.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

_BLANKS = re.compile(r"[\s_]+")
_EDGE_PUNCT = " .,;:!?'\"()[]{}<>/\\|-*#~"


def normalise_tag(tag: str) -> str:
    """NFKC, lower case, ``_`` and blanks -> one space, surrounding punctuation stripped."""
    text = unicodedata.normalize("NFKC", tag).lower().replace("’", "'")
    return _BLANKS.sub(" ", text).strip(_EDGE_PUNCT)


def drop_reason(tag: str, stop_tags: frozenset[str], creators: frozenset[str], min_length: int) -> str:
    """Why a normalised tag is not a category ("" when it may be one)."""
    if not tag:
        return "empty"
    if tag in stop_tags:
        return "meta tag (stop_tags)"
    if any(ch.isdigit() for ch in tag):
        return "contains a digit"
    if sum(ch.isalpha() for ch in tag) < min_length:
        return f"shorter than {min_length} letters"
    if tag in creators:
        return "an author's name"
    return ""


def plural_merges(tags: Iterable[str]) -> dict[str, str]:
    """``{plural: singular}`` for every tag whose singular form is also a tag.

    Singular candidates, tried in order: ``-ies`` -> ``-y``, ``-es`` -> ``''``, ``-s`` -> ``''``; only the
    last word of a multi-word tag is inflected (``road signs`` -> ``road sign``).
    """
    present = set(tags)
    merges = {}
    for tag in sorted(present):
        for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
            if tag.endswith(suffix) and not tag.endswith("ss"):
                singular = tag[: -len(suffix)] + replacement
                if singular != tag and singular in present:
                    merges[tag] = singular
                    break
    return merges


def clean_item_tags(
    raw_tags: Sequence[Sequence[str]],
    stop_tags: Iterable[str],
    creators: Iterable[str],
    min_length: int,
) -> tuple[list[frozenset[str]], dict[str, str]]:
    """Steps 1-3 on every item's tags.

    Args:
        raw_tags: Per item, its tags as written.
        stop_tags: Meta tags to drop (normalised here).
        creators: Author names (normalised here).
        min_length: Fewest letters of a category name.

    Returns:
        ``(tags per item, {normalised tag: reason})`` with the reason for every dropped or merged tag
        (``"merged into X"`` for plurals).
    """
    stop = frozenset(normalise_tag(t) for t in stop_tags)
    authors = frozenset(a for a in (normalise_tag(c) for c in creators) if a)
    reasons: dict[str, str] = {}
    normalised = []
    for tags in raw_tags:
        kept = set()
        for tag in (normalise_tag(t) for t in tags):
            reason = reasons.get(tag)
            if reason is None:
                reason = reasons[tag] = drop_reason(tag, stop, authors, min_length)
            if not reason:
                kept.add(tag)
        normalised.append(kept)
    merges = plural_merges(t for tags in normalised for t in tags)
    reasons.update({plural: f"merged into {singular!r}" for plural, singular in merges.items()})
    items = [frozenset(merges.get(t, t) for t in tags) for tags in normalised]
    return items, {tag: reason for tag, reason in reasons.items() if reason}


def frequent_tags(item_tags: Sequence[frozenset[str]], min_items: int) -> Counter[str]:
    """Step 4: tag -> number of items, for tags on at least ``min_items`` items."""
    counts = Counter(t for tags in item_tags for t in tags)
    return Counter({t: n for t, n in counts.items() if n >= min_items})


def merge_cooccurring(item_tags: Sequence[frozenset[str]], tags: Iterable[str]) -> dict[str, str]:
    """Step 5: ``{alias: category}`` for tags whose item sets are identical.

    The category of a group is its shortest name (ties: alphabetical).
    """
    members: dict[str, list[int]] = {t: [] for t in tags}
    for index, item in enumerate(item_tags):
        for tag in item:
            if tag in members:
                members[tag].append(index)
    groups: dict[tuple[int, ...], list[str]] = {}
    for tag, rows in members.items():
        groups.setdefault(tuple(rows), []).append(tag)
    aliases = {}
    for names in groups.values():
        head = min(names, key=lambda n: (len(n), n))
        aliases.update({n: head for n in names if n != head})
    return aliases
