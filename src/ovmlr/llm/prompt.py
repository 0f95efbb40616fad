"""The relation-mining prompt of C²SRT (Supplement B.3) and the JSON schema of its answer.

The text follows the paper's prompt: the task sentence, the five relationship types, the answer format,
the worked example ("Nature"), the closing instruction and the list of seen categories. The paper's text
breaks off after "For each related category, specify:"; the three items that follow here (type,
strength, explanation) restate the fields of its answer format.

Two answer formats share that text: ``"text"`` is the paper's ``Related Category N: name`` blocks, verbatim;
``"json"`` asks for the same fields as one JSON object, so that a backend with constrained decoding (the
local llama.cpp backend, OpenAI structured outputs, vLLM) can force an answer that always parses.

The ``"json"`` answer schema lists the candidates as the ``enum`` of the category name while that fits an
API's structured-output limits (:data:`MAX_SCHEMA_ENUM_VALUES`); past them (Open Images lists 7,186 seen
categories) the name is an unconstrained string, which the parser still checks against the listed names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

RELATION_TYPES: tuple[str, ...] = (
    "Synonymy/Similarity",
    "Is-a/Hypernym",
    "Functional Relationship",
    "Co-occurrence",
    "Part-Whole Relationship",
)
"""The five relationship types of Supplement B.3, in the paper's order."""

STRENGTH_SCORES: dict[str, int] = {"High": 3, "Medium": 2, "Low": 1}
"""Association strength → metric (Supplement B.3; a category not mentioned scores 0)."""

OUTPUT_FORMATS = ("text", "json")

# OpenAI structured outputs limit the enums of one schema and reject a request past that with HTTP 400:
# "Expected at most 500 enum values in total within a single schema when using structured outputs" (the
# API's error, reported in 2024 at
# https://community.openai.com/t/500-enums-limitation-in-structured-output/974416). The guide's
# "Supported schemas" section has since raised the total to 1,000 and caps one string enum of more than
# 250 values at 15,000 characters in all
# (https://developers.openai.com/api/docs/guides/structured-outputs#supported-schemas). The default keeps
# the older, smaller total: a schema within it is accepted under both. vLLM, Ollama and llama.cpp have no
# such limit (pass ``max_enum_values=None``), but a grammar of thousands of names is slow to build.
MAX_SCHEMA_ENUM_VALUES = 500
"""Most enum values one answer schema may hold in total (all its enums together)."""
LARGE_ENUM_VALUES = 250
"""A string enum with more values than this is also bounded by :data:`MAX_LARGE_ENUM_CHARS`."""
MAX_LARGE_ENUM_CHARS = 15_000
"""Most characters, all values together, of a string enum of more than :data:`LARGE_ENUM_VALUES` values."""

_TYPE_DEFINITIONS = (
    "Two categories are conceptually very similar or synonymous.",
    "One category is a superordinate or subordinate concept of the other.",
    "The function or use of one category is related to the other.",
    "Two categories often appear in the same context or environment.",
    "One category is a component of the other.",
)

_EXAMPLE_SEEN = (
    "natural, fauna, wildlife, flora, scenic, outdoors, cliff, blossoms, insect, wild, plant, scenery, "
    "blooms, gardens, landscapes"
)
_EXAMPLE_RELATIONS = (
    (
        "natural",
        "Synonymy/Similarity",
        "High",
        "\u201cNatural\u201d is conceptually very similar to \u201cnature\u201d as both refer to elements "
        "of the physical world not created by humans.",
    ),
    (
        "fauna",
        "Is-a/Hypernym",
        "High",
        "\u201cFauna\u201d represents the animal life of a region, which is a fundamental part of "
        "\u201cnature.\u201d",
    ),
)
_FORMAT_FIELDS = (
    "[Category Name]",
    "[Relationship Type]",
    "High / Medium / Low",
    "[Brief explanation of the relationship and the reason for the assigned strength]",
)


def _text_record(number: str, name: str, relation: str, strength: str, explanation: str) -> str:
    return (
        f"Related Category {number}: {name}\n\n"
        f"- **Type of Relationship:** {relation}\n"
        f"- **Association Strength:** {strength}\n"
        f"- **Explanation:** {explanation}"
    )


def _json_records(records: Sequence[tuple[str, str, str, str]]) -> str:
    items = [
        {"category": name, "relationship": relation, "strength": strength, "explanation": explanation}
        for name, relation, strength, explanation in records
    ]
    return json.dumps({"related": items}, ensure_ascii=False)


def _format_section(output_format: str) -> str:
    if output_format == "text":
        spec = _text_record("[Number]", *_FORMAT_FIELDS)
        example = "\n\n".join(
            _text_record(str(i), *record) for i, record in enumerate(_EXAMPLE_RELATIONS, start=1)
        )
        return (
            "Please provide the information for each relevant category in the following format:\n\n"
            f"{spec}\n\n## Example\n\nNew Category: Nature\n\nList of Seen Categories: {_EXAMPLE_SEEN}\n\n"
            f"Example Output:\n\n{example}\n\n..."
        )
    spec = _json_records([_FORMAT_FIELDS])
    example = _json_records(_EXAMPLE_RELATIONS)
    return (
        "Please provide the information for all relevant categories as one JSON object in the following "
        f"format:\n\n{spec}\n\n## Example\n\nNew Category: Nature\n\nList of Seen Categories: {_EXAMPLE_SEEN}"
        f"\n\nExample Output:\n\n{example}"
    )


def build_relation_prompt(target: str, seen_names: Sequence[str], output_format: str = "text") -> str:
    """The Supplement B.3 prompt asking which of ``seen_names`` relate to ``target``.

    Args:
        target: The new category ``{New Category}`` (seen or unseen).
        seen_names: ``{List of Seen Categories}``: the candidates, never ``target`` itself.
        output_format: ``"text"`` (the paper's answer format) or ``"json"`` (same fields as JSON).

    Raises:
        ValueError: On an unknown ``output_format``, an empty list, or ``target`` inside the list.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    if not seen_names:
        raise ValueError(f"no seen categories to list in the prompt for {target!r}")
    if target in seen_names:
        raise ValueError(f"the prompt for {target!r} must not list {target!r} among the seen categories")
    types = "\n".join(
        f"{i}. **{name}:** {definition}"
        for i, (name, definition) in enumerate(zip(RELATION_TYPES, _TYPE_DEFINITIONS, strict=True), start=1)
    )
    return (
        "Based on the following list of known categories, please identify all categories that have a direct "
        f"relationship with the new category **{target}**. For each related category, provide the type of "
        "relationship, the association strength (**High, Medium, Low**), and an explanation.\n\n"
        f"## Types of Relationships\n\n{types}\n\n## Instructions\n\n{_format_section(output_format)}\n\n"
        "Using the format and example provided above, identify all categories from the list of known "
        f"categories that have a direct relationship with the new category **{target}**. For each related "
        "category, specify:\n\n1. The type of relationship.\n2. The association strength (High, Medium, Low)."
        f"\n3. A brief explanation.\n\nList of Seen Categories:\n\n{', '.join(seen_names)}\n\n"
        f"Focus on associations that would be most relevant for understanding or classifying **{target}** "
        "within this domain."
    )


def build_relation_messages(
    target: str, seen_names: Sequence[str], output_format: str = "text"
) -> list[dict[str, str]]:
    """The chat messages of one query: the prompt as a single user turn (as sent to ChatGPT in the paper)."""
    return [{"role": "user", "content": build_relation_prompt(target, seen_names, output_format)}]


def name_enum_fits(seen_names: Sequence[str], max_enum_values: int | None = MAX_SCHEMA_ENUM_VALUES) -> bool:
    """Whether the answer schema may list ``seen_names`` as an ``enum`` within structured-output limits.

    The total counts the schema's other enums too (5 relationship types, 3 strengths): with the default
    limit of 500, at most 492 names fit, and past 250 names at most :data:`MAX_LARGE_ENUM_CHARS`
    characters of them. ``max_enum_values=None``: no limit (every list fits).
    """
    if max_enum_values is None:
        return True
    n_values = len(seen_names) + len(RELATION_TYPES) + len(STRENGTH_SCORES)
    n_chars = sum(len(name) for name in seen_names)
    return n_values <= max_enum_values and (
        len(seen_names) <= LARGE_ENUM_VALUES or n_chars <= MAX_LARGE_ENUM_CHARS
    )


def _category_field(seen_names: Sequence[str], max_enum_values: int | None) -> dict[str, Any]:
    if name_enum_fits(seen_names, max_enum_values):
        return {"type": "string", "enum": list(seen_names)}
    return {"type": "string", "description": "One name from the list of seen categories, spelled as listed."}


def relation_response_schema(
    seen_names: Sequence[str],
    max_relations: int,
    max_explanation_chars: int,
    max_enum_values: int | None = MAX_SCHEMA_ENUM_VALUES,
) -> dict[str, Any]:
    """JSON schema of a ``"json"`` answer: category names restricted to ``seen_names`` where that fits.

    Within the limit the name is an ``enum`` of ``seen_names``; past it (:func:`name_enum_fits`) it is a
    free string, so that an API with structured-output limits still accepts the request. Either way the
    parser accepts only listed names (anything else is a ``not_in_list`` rejection).

    Args:
        seen_names: The candidates listed in the prompt.
        max_relations: Most related categories one answer may list (bounds the output tokens).
        max_explanation_chars: Longest explanation (bounds the output tokens).
        max_enum_values: Most enum values the schema may hold in total (OpenAI's limit by default, see
            :data:`MAX_SCHEMA_ENUM_VALUES`); ``None`` for a server without one.

    Raises:
        ValueError: On a bound below 1, or a limit too small for the schema's own 8 enum values.
    """
    if max_relations < 1 or max_explanation_chars < 1:
        raise ValueError(
            "max_relations and max_explanation_chars must be >= 1, "
            f"got {max_relations}, {max_explanation_chars}"
        )
    own_values = len(RELATION_TYPES) + len(STRENGTH_SCORES)
    if max_enum_values is not None and max_enum_values <= own_values:
        raise ValueError(f"max_enum_values must be >= {own_values + 1} or None, got {max_enum_values}")
    item = {
        "type": "object",
        "properties": {
            "category": _category_field(seen_names, max_enum_values),
            "relationship": {"type": "string", "enum": list(RELATION_TYPES)},
            "strength": {"type": "string", "enum": list(STRENGTH_SCORES)},
            "explanation": {"type": "string", "maxLength": max_explanation_chars},
        },
        "required": ["category", "relationship", "strength", "explanation"],
        "additionalProperties": False,
    }
    related = {"type": "array", "items": item, "maxItems": min(max_relations, len(seen_names))}
    return {
        "type": "object",
        "properties": {"related": related},
        "required": ["related"],
        "additionalProperties": False,
    }


def prompt_hash(messages: Sequence[dict[str, str]], response_schema: dict[str, Any] | None) -> str:
    """SHA-256 of the messages and the answer schema: what decides the answer besides model and sampling."""
    payload = json.dumps(
        {"messages": list(messages), "schema": response_schema}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
