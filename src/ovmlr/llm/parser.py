"""Parsing an LLM's relation answer into accepted relations and counted rejections.

Accepted shapes: the paper's ``Related Category N: name`` blocks with ``Type of Relationship`` /
``Association Strength`` / ``Explanation`` fields, and their usual deviations (markdown bold and headings,
numbered or bulleted items, ``Strength: high``, the strength inline as ``name (Co-occurrence, High)``,
prose around the answer); or JSON (an object with a list of items, a bare list, inside a code fence or
truncated mid-answer, in which case every complete item is kept).

Every item found is either accepted or rejected for one counted reason: ``not_in_list`` (the name is not
one of the listed seen categories), ``self`` (the target category itself), ``unknown_strength`` (missing,
or not exactly one of High/Medium/Low) or ``duplicate`` (named again in the same answer; the first wins).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .names import NameMatcher
from .prompt import STRENGTH_SCORES

REJECTION_REASONS = ("not_in_list", "self", "unknown_strength", "duplicate")

_STRENGTH_WORD = re.compile(r"\b(high|medium|low)\b", re.IGNORECASE)
_TYPE_PATTERNS = (
    (re.compile(r"synonym|similar", re.I), "Synonymy/Similarity"),
    (
        re.compile(r"is-?a\b|hypernym|hyponym|subordinate|superordinate|subclass|kind of", re.I),
        "Is-a/Hypernym",
    ),
    (re.compile(r"function", re.I), "Functional Relationship"),
    (re.compile(r"co-?\s?occurr", re.I), "Co-occurrence"),
    (re.compile(r"part|whole|component|meronym", re.I), "Part-Whole Relationship"),
)
_MARKUP = re.compile(r"[*`#]+")
_BULLET = re.compile(r"^[\s>\-\u2022+]+")
_NUMBER = re.compile(r"^\d+\s*[.)]\s*")
_FIELD = re.compile(
    r"^(?P<key>type of relationship|relationship type|type of relation|relationship|relation|type"
    r"|association strength|strength of association|strength|explanation|reason)\s*[:=\-\u2013\u2014]\s*"
    r"(?P<value>.*)$",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"^related\s+category\s*\[?\s*\d*\s*\]?\s*[:.\-\u2013\u2014)]\s*(?P<name>.+)$", re.IGNORECASE
)
_INLINE = re.compile(r"^(?P<name>.+?)\s*(?:\((?P<paren>[^()]*)\)|\s[-\u2013\u2014|]\s+(?P<tail>.+))$")
_JSON_OBJECT = re.compile(r"\{[^{}]*\}")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ParsedRelation:
    """One accepted relation: a listed seen category, its relationship type and strength."""

    name: str
    relation_type: str
    strength: str

    @property
    def score(self) -> int:
        """The association metric of the strength (High 3, Medium 2, Low 1)."""
        return STRENGTH_SCORES[self.strength]


@dataclass
class ParseResult:
    """What one response yielded.

    Attributes:
        relations: Accepted relations, in the order the response gives them.
        rejections: Count per reason in :data:`REJECTION_REASONS`.
        n_items: Items found (accepted + rejected).
        parsed: Whether the response had a recognisable answer: a JSON answer (possibly an empty list)
            or at least one relation item. ``False`` = the response failed to parse.
    """

    relations: list[ParsedRelation] = field(default_factory=list)
    rejections: Counter = field(default_factory=Counter)
    n_items: int = 0
    parsed: bool = False


def canonical_relation_type(text: str) -> str:
    """The relationship type ``text`` names (one of ``RELATION_TYPES``), else ``text`` cleaned."""
    for pattern, name in _TYPE_PATTERNS:
        if pattern.search(text):
            return name
    return _MARKUP.sub("", text).strip()[:60]


def canonical_strength(text: str | None) -> str | None:
    """``High``/``Medium``/``Low`` when ``text`` names exactly one of them, else ``None``."""
    words = {w.capitalize() for w in _STRENGTH_WORD.findall(text or "")}
    return words.pop() if len(words) == 1 else None


def _json_candidates(text: str) -> list[Any]:
    fenced = _FENCE.findall(text)
    candidates = [*fenced, text]
    for opener, closer in ("{}", "[]"):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    decoded = []
    for candidate in candidates:
        try:
            decoded.append(json.loads(candidate))
        except ValueError:
            continue
    return decoded


def _items_of(value: Any) -> list[dict]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        if _item_fields(value)["name"] is not None:
            return [value]
        lists = [v for v in value.values() if isinstance(v, list)]
        return _items_of(lists[0]) if lists else []
    return []


def _is_answer(value: Any) -> bool:
    """An object, or a list of objects (``[3]`` in ``Related Category [3]`` is no JSON answer)."""
    return isinstance(value, dict) or (isinstance(value, list) and all(isinstance(v, dict) for v in value))


def _item_fields(item: dict) -> dict[str, str | None]:
    keys = {re.sub(r"[^a-z]", "", str(k).lower()): v for k, v in item.items()}
    pick = lambda *names: next((str(keys[n]) for n in names if keys.get(n) is not None), None)  # noqa: E731
    return {
        "name": pick("category", "name", "relatedcategory", "categoryname", "seencategory"),
        "type": pick("relationship", "typeofrelationship", "relationshiptype", "type", "relation"),
        "strength": pick("strength", "associationstrength", "association"),
    }


def extract_json_items(text: str) -> list[dict[str, str | None]] | None:
    """Relation items of a JSON answer (whole, fenced or truncated: complete flat objects are salvaged).

    ``None`` when ``text`` holds no JSON answer at all; ``[]`` for a JSON answer listing nothing.
    """
    decoded = [value for value in _json_candidates(text) if _is_answer(value)]
    for value in decoded:
        items = [_item_fields(item) for item in _items_of(value)]
        if items:
            return [item for item in items if item["name"] is not None]
    salvaged = []
    for match in _JSON_OBJECT.finditer(text):
        try:
            item = _item_fields(json.loads(match.group(0)))
        except ValueError:
            continue
        if item["name"] is not None:
            salvaged.append(item)
    if salvaged:
        return salvaged
    return [] if decoded else None


def _field_line(line: str) -> tuple[str, str] | None:
    for candidate in (line, _NUMBER.sub("", line)):
        match = _FIELD.match(candidate)
        if match:
            key = match.group("key").lower()
            kind = (
                "strength"
                if "strength" in key
                else "explanation"
                if key in ("explanation", "reason")
                else "type"
            )
            return kind, match.group("value").strip()
    return None


def _header_name(line: str) -> tuple[str, bool] | None:
    """``(name, explicit)`` when ``line`` opens a block; explicit = the paper's ``Related Category`` form."""
    match = _HEADER.match(_NUMBER.sub("", line))
    if match:
        return match.group("name").strip(), True
    numbered = _NUMBER.match(line)
    if numbered:
        name = line[numbered.end() :].strip().rstrip(":").strip()
        return (name, False) if name and len(name.split()) <= 8 else None
    if line.endswith(":") and 0 < len(line[:-1].split()) <= 4:
        return line[:-1].strip(), False
    return None


def _split_inline(item: dict[str, str | None]) -> None:
    """Move an inline ``(Type, Strength)`` or ``- Strength`` suffix of the name into the item's fields."""
    match = _INLINE.match(item["name"] or "")
    extra = match and (match.group("paren") or match.group("tail"))
    if not extra or canonical_strength(extra) is None:
        return
    item["name"] = match.group("name").strip()
    item["strength"] = item["strength"] or extra
    if any(pattern.search(extra) for pattern, _ in _TYPE_PATTERNS):
        item["type"] = item["type"] or extra


def extract_text_items(text: str) -> list[dict[str, str | None]]:
    """Relation items of an answer in the paper's text format or a common variant of it."""
    items: list[dict[str, str | None]] = []
    explicit: list[bool] = []
    has_field: list[bool] = []
    for raw in text.splitlines():
        line = _BULLET.sub("", _MARKUP.sub("", raw)).strip()
        if not line:
            continue
        field_value = _field_line(line)
        if field_value and items:
            kind, value = field_value
            items[-1][kind] = items[-1].get(kind) or value
            has_field[-1] = True
            continue
        header = None if field_value else _header_name(line)
        if header:
            items.append({"name": header[0], "type": None, "strength": None})
            explicit.append(header[1])
            has_field.append(False)
    kept = [item for item, e, f in zip(items, explicit, has_field, strict=True) if e or f]
    for item in kept:
        _split_inline(item)
    return kept


def parse_relation_response(text: str, listed: Sequence[str], target: str) -> ParseResult:
    """Accepted relations and counted rejections of one response.

    Args:
        text: The raw response.
        listed: The seen categories the prompt listed (the only acceptable names).
        target: The category the prompt asked about (never accepted as its own neighbour).
    """
    json_items = extract_json_items(text)
    items = json_items if json_items is not None else extract_text_items(text)
    matcher, target_matcher = NameMatcher(listed), NameMatcher([target])
    result = ParseResult(n_items=len(items), parsed=json_items is not None or bool(items))
    seen: set[str] = set()
    for item in items:
        written = item["name"] or ""
        name = matcher.match(written)
        strength = canonical_strength(item["strength"])
        if name is None:
            reason = "self" if target_matcher.match(written) else "not_in_list"
        elif strength is None:
            reason = "unknown_strength"
        elif name in seen:
            reason = "duplicate"
        else:
            seen.add(name)
            result.relations.append(
                ParsedRelation(name, canonical_relation_type(item["type"] or ""), strength)
            )
            continue
        result.rejections[reason] += 1
    return result
