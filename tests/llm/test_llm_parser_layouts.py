"""Free-form layouts of a relation answer: inline lists, markdown tables and qualified strengths.

Each answer is realistic model output; every item in it is either accepted or counted as one rejection.
"""

from __future__ import annotations

import pytest

from ovmlr.llm.parser import ParsedRelation, canonical_strength, extract_text_items, parse_relation_response

SEEN = ["natural", "fauna", "wildlife", "flora", "gardens", "plant", "blossoms", "ankle boot", "t-shirt"]
TARGET = "nature"

DASH_LIST = """Here are the seen categories most related to **nature**:

1. **Natural** – Synonymy/Similarity – Very High – both describe the physical world
2. **Fauna** - Is-a/Hypernym - High (strong)
3. Flora — Part-Whole Relationship — moderately high
4. **Gardens** – Co-occurrence – Medium-Low
5. **Robots** – Functional Relationship – Low
6. **Blossoms** – Part-Whole Relationship

Let me know if you need more detail."""

PIPE_BULLETS = """Related categories for nature:

- **wildlife** | Co-occurrence | High | Animals live in natural settings
- **plants** | Part-Whole | medium
* flora | Part-Whole Relationship | strong
\u2022 ankle boots | Functional Relationship | Low | Hiking boots are worn outdoors
- Category: gardens | Type: Co-occurrence | Strength: Low
"""

COMMA_LIST = """1. natural, Synonymy/Similarity, High, the two words mean nearly the same thing
2. **wildlife**, Co-occurrence, very high
3. t-shirts, Co-occurrence, Low
4. nature, Synonymy/Similarity, High
5. gardens, Co-occurrence, weak"""

PAREN_AND_COLON = """Based on the list, the related categories are:

- **Wildlife** (Co-occurrence, High): animals are a visible part of nature.
- **Flora**: Part-Whole Relationship, fairly high
- Blossoms (Part-Whole/Low)
- **Gardens** (Type: Co-occurrence, Strength: Low)
- **Plant** - Functional Relationship"""

TABLE = """Here is a table of the related categories:

| # | Category | Relation type | Strength | Explanation |
|---|----------|---------------|----------|-------------|
| 1 | **Natural** | Synonymy/Similarity | High | Both refer to the physical world |
| 2 | Fauna | Is-a/Hypernym | Very high | Animal life is part of nature |
| 3 | Wildlife | Co-occurrence | Medium | Seen in natural settings |
| 4 | Robots | Functional | Low | Robots explore nature |
| 5 | Gardens | Co-occurrence | - | Cultivated nature |
| 6 | fauna | Co-occurrence | Low | Listed again |

These relations cover the main aspects of nature."""

TABLE_PAPER_HEADERS = """| Related Category | Type of Relationship | Association Strength |
|:--|:--|:--:|
| plants | Part-Whole Relationship | **Medium** |
| blossoms | Part-Whole Relationship | Low (seasonal) |
| ankle boots | Co-occurrence | Medium-High |"""

TABLE_WITHOUT_RULE = """| wildlife | Co-occurrence | High |
| flora | Part-Whole | Low |"""


@pytest.mark.parametrize(
    ("text", "relations", "rejections", "n_items"),
    [
        (
            DASH_LIST,
            [
                ParsedRelation("natural", "Synonymy/Similarity", "High"),
                ParsedRelation("fauna", "Is-a/Hypernym", "High"),
                ParsedRelation("flora", "Part-Whole Relationship", "High"),
            ],
            {"unknown_strength": 2, "not_in_list": 1},
            6,
        ),
        (
            PIPE_BULLETS,
            [
                ParsedRelation("wildlife", "Co-occurrence", "High"),
                ParsedRelation("plant", "Part-Whole Relationship", "Medium"),
                ParsedRelation("ankle boot", "Functional Relationship", "Low"),
                ParsedRelation("gardens", "Co-occurrence", "Low"),
            ],
            {"unknown_strength": 1},
            5,
        ),
        (
            COMMA_LIST,
            [
                ParsedRelation("natural", "Synonymy/Similarity", "High"),
                ParsedRelation("wildlife", "Co-occurrence", "High"),
                ParsedRelation("t-shirt", "Co-occurrence", "Low"),
            ],
            {"self": 1, "unknown_strength": 1},
            5,
        ),
        (
            PAREN_AND_COLON,
            [
                ParsedRelation("wildlife", "Co-occurrence", "High"),
                ParsedRelation("flora", "Part-Whole Relationship", "High"),
                ParsedRelation("blossoms", "Part-Whole Relationship", "Low"),
                ParsedRelation("gardens", "Co-occurrence", "Low"),
            ],
            {"unknown_strength": 1},
            5,
        ),
        (
            TABLE,
            [
                ParsedRelation("natural", "Synonymy/Similarity", "High"),
                ParsedRelation("fauna", "Is-a/Hypernym", "High"),
                ParsedRelation("wildlife", "Co-occurrence", "Medium"),
            ],
            {"not_in_list": 1, "unknown_strength": 1, "duplicate": 1},
            6,
        ),
        (
            TABLE_PAPER_HEADERS,
            [
                ParsedRelation("plant", "Part-Whole Relationship", "Medium"),
                ParsedRelation("blossoms", "Part-Whole Relationship", "Low"),
            ],
            {"unknown_strength": 1},
            3,
        ),
        (
            TABLE_WITHOUT_RULE,
            [
                ParsedRelation("wildlife", "Co-occurrence", "High"),
                ParsedRelation("flora", "Part-Whole Relationship", "Low"),
            ],
            {},
            2,
        ),
    ],
    ids=[
        "dash-list",
        "pipe-bullets",
        "comma-list",
        "paren-and-colon",
        "table",
        "table-paper",
        "table-no-rule",
    ],
)
def test_layout_gives_the_exact_relations_and_rejections(text, relations, rejections, n_items):
    result = parse_relation_response(text, SEEN, TARGET)
    assert result.relations == relations
    assert dict(result.rejections) == rejections
    assert result.n_items == n_items == len(relations) + sum(rejections.values())
    assert result.parsed


def test_a_table_header_and_rule_are_no_items():
    names = [item["name"] for item in extract_text_items(TABLE)]
    assert names == ["Natural", "Fauna", "Wildlife", "Robots", "Gardens", "fauna"]


def test_a_parenthesis_naming_no_type_or_strength_stays_in_the_name():
    text = "1. Seal (animal) – Co-occurrence – Low\n2. Salt, pepper\n   - Strength: Medium"
    result = parse_relation_response(text, ["seal (animal)", "salt, pepper"], "beach")
    assert result.relations == [
        ParsedRelation("seal (animal)", "Co-occurrence", "Low"),
        ParsedRelation("salt, pepper", "", "Medium"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "- Note: I left out robots, as they are not natural (low relevance).",
        "Overall, wildlife and flora relate to nature, some of them high.",
        "| Category | Type | Strength |",
        "1. First, I read the list of seen categories carefully",
    ],
)
def test_prose_lines_are_no_items(text):
    assert extract_text_items(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("very high", "High"),
        ("Very High", "High"),
        ("moderately high", "High"),
        ("High (strong)", "High"),
        ("fairly low", "Low"),
        ("**Medium** - they often co-occur", "Medium"),
        ("medium-low", None),  # a range names two levels: ambiguous
        ("Medium\u2013High", None),
        ("strong", None),  # a word of another scale is not read as a level
        ("weak", None),
        ("n/a", None),
    ],
)
def test_qualified_strengths(text, expected):
    assert canonical_strength(text) == expected
