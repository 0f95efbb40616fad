"""Parsing an LLM's relation answer into accepted relations and counted rejections.

Accepted shapes:

* the paper's ``Related Category N: name`` blocks with ``Type of Relationship`` / ``Association Strength``
  / ``Explanation`` fields, and their usual deviations (markdown bold and headings, numbered or bulleted
  items, ``Strength: high``, prose around the answer);
* one item per line, the fields inline after the name, cut by dashes, pipes, commas or semicolons, or in
  parentheses, bold or not: ``1. **Natural** – Synonymy/Similarity – High – both are…``,
  ``- wildlife | Co-occurrence | High``, ``2. fauna, Is-a, very high``, ``- Flora: Part-Whole, Medium``,
  ``- Wildlife (Co-occurrence, High): animals…``, ``- Category: gardens | Type: … | Strength: Low``;
* markdown tables, their columns told apart by the header row (``| Category | Relation type | Strength |``
  above the ``|---|`` rule);
* JSON (an object with a list of items, a bare list, inside a code fence or truncated mid-answer, in which
  case every complete item is kept).

Every item found is either accepted or rejected for one counted reason: ``not_in_list`` (the name is not
one of the listed seen categories), ``self`` (the target category itself), ``unknown_strength`` (missing,
or not exactly one of High/Medium/Low: see :func:`canonical_strength`) or ``duplicate`` (named again in
the same answer; the first wins).
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
_BULLET_ITEM = re.compile(r"^[\s>]*[-*+\u2022]\s")
# Inline field separators: spaced dashes (so ``Is-a`` and ``t-shirt`` stay whole), pipes, commas, semicolons.
_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]{1,2}\s+|\s*\|\s*|[,;]\s+")
_COLON = re.compile(r":\s+")
_TRAILING_PAREN = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<inner>[^()]*)\)$")
_NAME_LABEL = re.compile(r"^(?:related\s+|seen\s+)?(?:category|name)(?:\s+name)?\s*[:=]\s*", re.IGNORECASE)
# Words that make a short inline field a strength (read by canonical_strength, which may still reject it).
_STRENGTH_HINT = re.compile(r"\b(?:high|medium|low|strong|strongly|weak|weakly|moderate|moderately)\b", re.I)
_SHORT_FIELD_WORDS = 5  # an unlabelled inline type or strength is at most this long; longer = explanation
_MAX_NAME_WORDS = 8
_TABLE_RULE = re.compile(r"^\|?[\s:|-]*-{3,}[\s:|-]*$")
_COLUMN_ROLES = (  # header cell → role; first match wins (``Related Category`` is a name, not a type)
    ("strength", re.compile(r"strength|association|level|degree|score", re.I)),
    ("explanation", re.compile(r"explanation|reason|rationale|why|note", re.I)),
    ("name", re.compile(r"categor|name|concept|class|label", re.I)),
    ("type", re.compile(r"type|relation|kind", re.I)),
)
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
    """``High``/``Medium``/``Low`` when ``text`` names exactly one of them, else ``None``.

    A qualifier grades within the level it names and is dropped: ``very high``, ``moderately high``,
    ``High (strong)`` → High; ``fairly low`` → Low. Two different levels are ambiguous: a range
    (``medium-low``, ``Medium-High``) or the prompt's own ``High / Medium / Low`` → ``None``. Words of
    another scale are not read as levels (``strong``, ``very strong``, ``weak``, ``moderate`` → ``None``):
    the prompt asks for High/Medium/Low, and mapping a scale the model chose itself would be a guess.
    ``None`` is counted as an ``unknown_strength`` rejection, never dropped silently.
    """
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
        return (name, False) if name and len(name.split()) <= _MAX_NAME_WORDS else None
    if line.endswith(":") and 0 < len(line[:-1].split()) <= 4:
        return line[:-1].strip(), False
    return None


def _split_fields(text: str, separator: re.Pattern = _SEPARATOR) -> list[str]:
    """``text`` cut at ``separator`` outside parentheses: ``a – b (c, d) | e`` → a, b (c, d), e."""
    fields, start = [], 0
    for match in separator.finditer(text):
        before = text[: match.start()]
        if before.count("(") > before.count(")"):
            continue
        fields.append(text[start : match.start()])
        start = match.end()
    fields.append(text[start:])
    return [field.strip() for field in fields if field.strip()]


def _names_type(text: str) -> bool:
    return any(pattern.search(text) for pattern, _ in _TYPE_PATTERNS)


def _names_type_or_strength(text: str) -> bool:
    return bool(_STRENGTH_HINT.search(text)) or _names_type(text)


def _inline_fields(text: str) -> list[str]:
    """The name, then the fields after it.

    ``Category: x`` loses its label; ``name: rest`` and a trailing ``name (Type, Strength)`` are split
    off the name (a parenthesis naming neither, as in ``Seal (animal)``, stays part of the name).
    """
    head, *rest = _split_fields(text) or [""]
    name, *after = _split_fields(_NAME_LABEL.sub("", head), _COLON) or [""]
    extra = [": ".join(after)] if after else []
    paren = _TRAILING_PAREN.match(name.strip())
    if paren and _names_type_or_strength(paren.group("inner")):
        name, extra = paren.group("name"), [*_split_fields(paren.group("inner")), *extra]
    return [name.strip(), *extra, *rest]


def _inline_values(fields: Sequence[str]) -> dict[str, str | None]:
    """Type and strength among inline ``fields`` (``None`` where no field gives one).

    A labelled field (``Strength: High``) gives its value; otherwise the first short field naming a
    relationship type, and the first naming a strength word, are taken (``Co-occurrence/High`` is both).
    """
    values: dict[str, str | None] = {"type": None, "strength": None}
    for text in fields:
        labelled = _field_line(text)
        if labelled:
            kind, value = labelled
            if kind in values and values[kind] is None:
                values[kind] = value
        elif len(text.split()) <= _SHORT_FIELD_WORDS:
            if values["strength"] is None and _STRENGTH_HINT.search(text):
                values["strength"] = text
            if values["type"] is None and _names_type(text):
                values["type"] = text
    return values


def _inline_item(text: str, need_both: bool = False) -> dict[str, str | None] | None:
    """The item of ``name – type – strength – explanation`` (or any layout of :func:`_inline_fields`).

    ``None`` unless a field after the name is a type or a strength (both when ``need_both``: a line
    outside a list must look more like an item than prose does), or when the name is empty or long.
    """
    name, *rest = _inline_fields(text)
    values = _inline_values(rest)
    found = [value is not None for value in values.values()]
    if not name or len(name.split()) > _MAX_NAME_WORDS or not (all(found) if need_both else any(found)):
        return None
    return {"name": name, **values}


def _item_of_line(raw: str, line: str) -> tuple[dict[str, str | None], bool] | None:
    """The item ``line`` opens and whether it stands alone (kept without field lines below it)."""
    header = _header_name(line)
    if header and header[1]:
        name = header[0]
        return _inline_item(name) or {"name": name, "type": None, "strength": None}, True
    in_list = bool(_BULLET_ITEM.match(raw) or _NUMBER.match(line) or line.startswith("|"))
    inline = _inline_item(_NUMBER.sub("", line), need_both=not in_list)
    if inline:
        return inline, True
    return ({"name": header[0], "type": None, "strength": None}, False) if header else None


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().removeprefix("|").removesuffix("|").split("|")]


def _table_columns(header: Sequence[str]) -> dict[str, int] | None:
    """Column index per role (name/type/strength/explanation); ``None`` for a table of no relations."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        role = next((role for role, pattern in _COLUMN_ROLES if pattern.search(cell)), None)
        if role is not None and role not in columns:
            columns[role] = index
    if "type" not in columns and "strength" not in columns:
        return None
    free = [i for i, cell in enumerate(header) if cell and i not in columns.values()]
    columns.setdefault("name", free[0] if free else 0)
    return columns


def _table_items(lines: Sequence[str]) -> dict[int, dict[str, str | None] | None]:
    """Line index → the item of a table row, or ``None`` for a header or rule line (no item).

    A table is a header row over a ``|---|`` rule; rows of a table without one are left to the
    inline parser (``| wildlife | Co-occurrence | High |``).
    """
    found: dict[int, dict[str, str | None] | None] = {}
    columns = None
    for index, line in enumerate(lines):
        if not line.startswith("|"):
            columns = None
        elif _TABLE_RULE.match(line):
            found[index] = None
        elif index + 1 < len(lines) and _TABLE_RULE.match(lines[index + 1]):
            columns, found[index] = _table_columns(_cells(line)), None
        elif columns is not None and any(_cells(line)):
            cells = _cells(line)
            cell = {role: cells[i] if i < len(cells) else None for role, i in columns.items()}
            found[index] = {
                "name": cell["name"] or "",
                "type": cell.get("type"),
                "strength": cell.get("strength"),
            }
    return found


def extract_text_items(text: str) -> list[dict[str, str | None]]:
    """Relation items of a free-form answer, in answer order (see the module docstring for the layouts).

    A block header (``Related Category 1: natural``, ``2. **Wildlife**``) collects the field lines below
    it; a header without any is kept only in the paper's explicit form. A line with inline fields, or a
    table row, is an item on its own.
    """
    cleaned = [(raw, _BULLET.sub("", _MARKUP.sub("", raw)).strip()) for raw in text.splitlines()]
    raws, lines = [raw for raw, line in cleaned if line], [line for _, line in cleaned if line]
    table = _table_items(lines)
    items: list[dict[str, str | None]] = []
    kept: list[bool] = []
    for index, (raw, line) in enumerate(zip(raws, lines, strict=True)):
        if index in table:
            row = table[index]
            if row is not None:
                items.append(row)
                kept.append(True)
            continue
        field_value = _field_line(line)
        if field_value:
            if items:
                kind, value = field_value
                items[-1][kind] = items[-1].get(kind) or value
                kept[-1] = True
            continue
        opened = _item_of_line(raw, line)
        if opened:
            items.append(opened[0])
            kept.append(opened[1])
    return [item for item, keep in zip(items, kept, strict=True) if keep]


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
