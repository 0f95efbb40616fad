"""The relation parser on a corpus of realistic answers: paper format, variants, JSON and garbage."""

from __future__ import annotations

import pytest

from ovmlr.llm.parser import (
    ParsedRelation,
    canonical_relation_type,
    canonical_strength,
    parse_relation_response,
)
from ovmlr.llm.prompt import build_relation_prompt

SEEN = ["natural", "fauna", "wildlife", "flora", "gardens", "plant", "blossoms", "ankle boot", "t-shirt"]
TARGET = "nature"

PAPER_FORMAT = """Here are the categories related to **nature**:

Related Category 1: natural

- **Type of Relationship:** Synonymy/Similarity
- **Association Strength:** High
- **Explanation:** "Natural" is conceptually very similar to "nature".

Related Category 2: fauna

- **Type of Relationship:** Is-a/Hypernym
- **Association Strength:** High
- **Explanation:** "Fauna" represents the animal life of a region.

Related Category 3: gardens

- **Type of Relationship:** Co-occurrence
- **Association Strength:** Low
- **Explanation:** Gardens are cultivated nature.

I hope this helps!"""

MARKDOWN_VARIANT = """### Related Category 1: **Flora**
* **Type of Relationship**: Part-Whole Relationship
* **Association Strength**: **Medium**

**Related Category 2: Wild life**
1. Type of Relationship: Co-occurrence
2. Association Strength: high

#### Related Category [3]: Blossom
- Relationship Type - Functional Relationship
- Strength: low
"""

NUMBERED_VARIANT = """Sure! The related categories are:

1. **Plants** (Part-Whole, Medium)
   - Explanation: plants make up nature.
2. **Wildlife**
   - Type: Co-occurrence
   - Strength: High
3. **Cars**
   - Type: Functional
   - Strength: Low
4. **Nature**
   - Type: Synonymy
   - Strength: High
5. **Fauna**
   - Type: Is-a
   - Strength: Very strong
6. **plants**
   - Type: Part-Whole
   - Strength: Low
"""

INLINE_VARIANT = """Related Category 1: Natural - High
Related Category 2: Ankle Boots (Co-occurrence, Low)
Related Category 3: T Shirt — Medium"""

JSON_FENCED = """Here is the answer:
```json
{"related": [
  {"category": "Fauna", "relationship": "Is-a/Hypernym", "strength": "high", "explanation": "animals"},
  {"category": "flora", "relationship": "Part-Whole Relationship", "strength": "Medium"},
  {"category": "robots", "relationship": "Functional Relationship", "strength": "Low", "explanation": "?"},
  {"category": "fauna", "relationship": "Co-occurrence", "strength": "Low", "explanation": "again"}
]}
```"""

JSON_TRUNCATED = (
    '{"related":[{"category":"wildlife","relationship":"Co-occurrence","strength":"High","explanation":"a"},'
    '{"category":"plant","relationship":"Part-Whole Relationship","strength":"Medium","explanation":"b"},'
    '{"category":"blossoms","relationship":"Part-Whole Relat'
)

JSON_BARE_LIST = (
    '[{"name": "gardens", "association_strength": "Medium", "type": "Co-occurrence"}, {"name": "flora"}]'
)


@pytest.mark.parametrize(
    ("text", "relations", "rejections", "n_items"),
    [
        (
            PAPER_FORMAT,
            [
                ParsedRelation("natural", "Synonymy/Similarity", "High"),
                ParsedRelation("fauna", "Is-a/Hypernym", "High"),
                ParsedRelation("gardens", "Co-occurrence", "Low"),
            ],
            {},
            3,
        ),
        (
            MARKDOWN_VARIANT,
            [
                ParsedRelation("flora", "Part-Whole Relationship", "Medium"),
                ParsedRelation("wildlife", "Co-occurrence", "High"),
                ParsedRelation("blossoms", "Functional Relationship", "Low"),
            ],
            {},
            3,
        ),
        (
            NUMBERED_VARIANT,
            [
                ParsedRelation("plant", "Part-Whole Relationship", "Medium"),
                ParsedRelation("wildlife", "Co-occurrence", "High"),
            ],
            {"not_in_list": 1, "self": 1, "unknown_strength": 1, "duplicate": 1},
            6,
        ),
        (
            INLINE_VARIANT,
            [
                ParsedRelation("natural", "", "High"),
                ParsedRelation("ankle boot", "Co-occurrence", "Low"),
                ParsedRelation("t-shirt", "", "Medium"),
            ],
            {},
            3,
        ),
        (
            JSON_FENCED,
            [
                ParsedRelation("fauna", "Is-a/Hypernym", "High"),
                ParsedRelation("flora", "Part-Whole Relationship", "Medium"),
            ],
            {"not_in_list": 1, "duplicate": 1},
            4,
        ),
        (
            JSON_TRUNCATED,
            [
                ParsedRelation("wildlife", "Co-occurrence", "High"),
                ParsedRelation("plant", "Part-Whole Relationship", "Medium"),
            ],
            {},
            2,
        ),
        (
            JSON_BARE_LIST,
            [ParsedRelation("gardens", "Co-occurrence", "Medium")],
            {"unknown_strength": 1},
            2,
        ),
    ],
    ids=["paper", "markdown", "numbered", "inline", "json-fenced", "json-truncated", "json-list"],
)
def test_corpus_gives_the_exact_relations_and_rejections(text, relations, rejections, n_items):
    result = parse_relation_response(text, SEEN, TARGET)
    assert result.relations == relations
    assert dict(result.rejections) == rejections
    assert result.n_items == n_items
    assert result.parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I'm sorry, but I cannot help with that request.",
        "Nature is related to many things, such as wildlife and flora, in a high degree.",
        "{not json at all",
    ],
)
def test_garbage_does_not_parse_and_yields_nothing(text):
    result = parse_relation_response(text, SEEN, TARGET)
    assert (result.relations, dict(result.rejections), result.n_items, result.parsed) == ([], {}, 0, False)


def test_an_empty_json_answer_parses_with_no_relation():
    result = parse_relation_response('{"related": []}', SEEN, TARGET)
    assert (result.relations, result.n_items, result.parsed) == ([], 0, True)


def test_the_prompts_own_worked_example_parses():
    prompt = build_relation_prompt("nature", ["natural", "fauna"], "text")
    example = prompt[prompt.index("Example Output:") : prompt.index("Using the format")]
    result = parse_relation_response(example, ["natural", "fauna"], "scenery")
    assert result.relations == [
        ParsedRelation("natural", "Synonymy/Similarity", "High"),
        ParsedRelation("fauna", "Is-a/Hypernym", "High"),
    ]


def test_relation_score_maps_strength_to_the_papers_metric():
    scores = [ParsedRelation("a", "", s).score for s in ("High", "Medium", "Low")]
    assert scores == [3, 2, 1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("High", "High"),
        ("**medium**", "Medium"),
        ("low (rarely together)", "Low"),
        ("High / Medium / Low", None),
        ("Moderate", None),
        ("", None),
        (None, None),
        ("Medium-High", None),
    ],
)
def test_canonical_strength(text, expected):
    assert canonical_strength(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("synonym", "Synonymy/Similarity"),
        ("Is-a", "Is-a/Hypernym"),
        ("hyponym", "Is-a/Hypernym"),
        ("Functional", "Functional Relationship"),
        ("co occurrence", "Co-occurrence"),
        ("Part-Whole", "Part-Whole Relationship"),
        ("**Thematic**", "Thematic"),
    ],
)
def test_canonical_relation_type(text, expected):
    assert canonical_relation_type(text) == expected
