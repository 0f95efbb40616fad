"""The Supplement B.3 prompt, its JSON answer schema and its hash."""

from __future__ import annotations

import json

import pytest

from ovmlr.llm.prompt import (
    RELATION_TYPES,
    build_relation_messages,
    build_relation_prompt,
    prompt_hash,
    relation_response_schema,
)

SEEN = ["sneaker", "ankle boot", "coat"]


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_prompt_has_the_papers_parts(output_format):
    prompt = build_relation_prompt("sandal", SEEN, output_format)
    assert prompt.startswith(
        "Based on the following list of known categories, please identify all categories"
    )
    assert prompt.count("**sandal**") == 3
    for i, name in enumerate(RELATION_TYPES, start=1):
        assert f"{i}. **{name}:**" in prompt
    assert "New Category: Nature" in prompt
    assert "List of Seen Categories:\n\nsneaker, ankle boot, coat\n\n" in prompt
    assert prompt.endswith("relevant for understanding or classifying **sandal** within this domain.")


def test_text_format_is_the_papers_answer_format():
    prompt = build_relation_prompt("sandal", SEEN, "text")
    assert "Related Category [Number]: [Category Name]" in prompt
    assert "- **Association Strength:** High / Medium / Low" in prompt
    assert "Related Category 2: fauna" in prompt


def test_json_format_shows_a_json_example_that_decodes():
    prompt = build_relation_prompt("sandal", SEEN, "json")
    start = prompt.index("Example Output:\n\n") + len("Example Output:\n\n")
    example = json.loads(prompt[start : prompt.index("\n\nUsing the format")])
    assert [item["category"] for item in example["related"]] == ["natural", "fauna"]
    assert "Related Category [Number]" not in prompt


def test_messages_are_one_user_turn():
    messages = build_relation_messages("sandal", SEEN, "json")
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"] == build_relation_prompt("sandal", SEEN, "json")


@pytest.mark.parametrize(
    ("target", "seen", "output_format", "match"),
    [
        ("coat", SEEN, "text", "must not list 'coat'"),
        ("sandal", [], "text", "no seen categories"),
        ("sandal", SEEN, "yaml", "output_format must be one of"),
    ],
)
def test_bad_prompt_requests_are_rejected(target, seen, output_format, match):
    with pytest.raises(ValueError, match=match):
        build_relation_prompt(target, seen, output_format)


def test_schema_restricts_names_strengths_types_and_length():
    schema = relation_response_schema(SEEN, max_relations=8, max_explanation_chars=40)
    item = schema["properties"]["related"]["items"]
    assert item["properties"]["category"]["enum"] == SEEN
    assert item["properties"]["strength"]["enum"] == ["High", "Medium", "Low"]
    assert item["properties"]["relationship"]["enum"] == list(RELATION_TYPES)
    assert item["properties"]["explanation"]["maxLength"] == 40
    assert schema["properties"]["related"]["maxItems"] == 3  # no more items than listed names


def test_schema_rejects_non_positive_bounds():
    with pytest.raises(ValueError, match="must be >= 1"):
        relation_response_schema(SEEN, max_relations=0, max_explanation_chars=40)


def test_prompt_hash_depends_on_messages_and_schema_only():
    messages = build_relation_messages("sandal", SEEN, "json")
    schema = relation_response_schema(SEEN, 8, 60)
    same = prompt_hash(json.loads(json.dumps(messages)), json.loads(json.dumps(schema)))
    assert prompt_hash(messages, schema) == same
    assert len(same) == 64
    assert prompt_hash(messages, None) != same
    assert prompt_hash(build_relation_messages("bag", SEEN, "json"), schema) != same
