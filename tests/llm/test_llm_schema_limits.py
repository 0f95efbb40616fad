"""The answer schema stays within structured-output limits at every vocabulary size (Open Images: 7,186)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ovmlr.llm.parser import parse_relation_response
from ovmlr.llm.prompt import (
    LARGE_ENUM_VALUES,
    MAX_LARGE_ENUM_CHARS,
    MAX_SCHEMA_ENUM_VALUES,
    name_enum_fits,
    relation_response_schema,
)

OPEN_IMAGES_SEEN = [f"category {i}" for i in range(7186)]
OTHER_ENUM_VALUES = 5 + 3  # relationship types and strengths


def enum_values(schema: Any) -> list[str]:
    """Every enum value anywhere in ``schema`` (what the API's total counts)."""
    if isinstance(schema, dict):
        own = list(schema.get("enum", []))
        return own + [v for key, sub in schema.items() if key != "enum" for v in enum_values(sub)]
    if isinstance(schema, list):
        return [v for sub in schema for v in enum_values(sub)]
    return []


def category_field(schema: dict) -> dict:
    return schema["properties"]["related"]["items"]["properties"]["category"]


def test_open_images_schema_respects_the_limit_with_a_free_name_field():
    schema = relation_response_schema(OPEN_IMAGES_SEEN, max_relations=8, max_explanation_chars=60)
    assert len(enum_values(schema)) == OTHER_ENUM_VALUES <= MAX_SCHEMA_ENUM_VALUES
    assert category_field(schema)["type"] == "string"
    assert "enum" not in category_field(schema)
    assert schema["properties"]["related"]["maxItems"] == 8
    assert len(json.dumps(schema)) < 2_000  # no longer carries the 7,186 names


def test_a_small_list_keeps_the_enum():
    seen = ["sneaker", "ankle boot", "coat"]
    schema = relation_response_schema(seen, max_relations=8, max_explanation_chars=60)
    assert category_field(schema) == {"type": "string", "enum": seen}


@pytest.mark.parametrize(
    ("n_names", "fits"),
    [
        (MAX_SCHEMA_ENUM_VALUES - OTHER_ENUM_VALUES, True),
        (MAX_SCHEMA_ENUM_VALUES - OTHER_ENUM_VALUES + 1, False),
    ],
)
def test_the_enum_limit_counts_the_schemas_other_enums(n_names, fits):
    names = [f"c{i}" for i in range(n_names)]
    schema = relation_response_schema(names, max_relations=8, max_explanation_chars=60)
    assert name_enum_fits(names) is fits
    assert ("enum" in category_field(schema)) is fits
    assert len(enum_values(schema)) <= MAX_SCHEMA_ENUM_VALUES


def test_long_names_past_250_values_hit_the_character_limit():
    long_names = [f"{i:03d} " + "x" * 56 for i in range(LARGE_ENUM_VALUES + 1)]  # 60 characters each
    assert sum(map(len, long_names)) > MAX_LARGE_ENUM_CHARS
    assert not name_enum_fits(long_names)
    assert name_enum_fits(long_names[:LARGE_ENUM_VALUES])  # up to 250 values, length is not limited


def test_no_limit_keeps_every_enum():
    schema = relation_response_schema(OPEN_IMAGES_SEEN, 8, 60, max_enum_values=None)
    assert category_field(schema)["enum"] == OPEN_IMAGES_SEEN


def test_a_bad_limit_is_rejected():
    with pytest.raises(ValueError, match="max_enum_values must be >= 9"):
        relation_response_schema(["a"], 8, 60, max_enum_values=8)


def test_names_a_free_field_lets_through_are_still_checked_by_the_parser():
    answer = json.dumps(
        {
            "related": [
                {"category": "category 12", "relationship": "Co-occurrence", "strength": "High"},
                {"category": "unicorn", "relationship": "Co-occurrence", "strength": "Low"},
            ]
        }
    )
    result = parse_relation_response(answer, OPEN_IMAGES_SEEN, "category 7185")
    assert [relation.name for relation in result.relations] == ["category 12"]
    assert dict(result.rejections) == {"not_in_list": 1}
