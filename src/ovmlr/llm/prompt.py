"""The relation-mining prompt of C²SRT (Supplement B.3) and the JSON schema of its answer.

The text follows the paper's prompt: the task sentence, the five relationship types, the answer format,
the worked example ("Nature"), the closing instruction and the list of seen categories. The paper's text
breaks off after "For each related category, specify:"; the three items that follow here (type,
strength, explanation) restate the fields of its answer format.

Two answer formats share that text: ``"text"`` is the paper's ``Related Category N: name`` blocks, verbatim;
``"json"`` asks for the same fields as one JSON object, so that a backend with constrained decoding (the
local llama.cpp backend, OpenAI structured outputs, vLLM) can force an answer that always parses.
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


def relation_response_schema(
    seen_names: Sequence[str], max_relations: int, max_explanation_chars: int
) -> dict[str, Any]:
    """JSON schema of a ``"json"`` answer: category names restricted to ``seen_names``.

    Args:
        seen_names: The candidates listed in the prompt.
        max_relations: Most related categories one answer may list (bounds the output tokens).
        max_explanation_chars: Longest explanation (bounds the output tokens).
    """
    if max_relations < 1 or max_explanation_chars < 1:
        raise ValueError(
            "max_relations and max_explanation_chars must be >= 1, "
            f"got {max_relations}, {max_explanation_chars}"
        )
    item = {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": list(seen_names)},
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
