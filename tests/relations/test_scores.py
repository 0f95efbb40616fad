"""LLM answers → mean strength metric per (target, source) and parse statistics (Supplement B.3)."""

from __future__ import annotations

import json

import pytest

from ovmlr.relations.config import LLMQueryConfig
from ovmlr.relations.llm_scores import association_scores, parse_answers, parse_statistics
from ovmlr.relations.requests import build_request_table

SANDAL = [
    "Related Category 1: sneaker\n- Association Strength: High\n- Type of Relationship: Synonymy/Similarity\n"
    "Related Category 2: ankle boots\n- Association Strength: Medium\n- Type of Relationship: Co-occurrence",
    '{"related":[{"category":"sneaker","relationship":"Is-a/Hypernym","strength":"High"},'
    '{"category":"coat","relationship":"Co-occurrence","strength":"Low"},'
    '{"category":"sandal","relationship":"Synonymy/Similarity","strength":"High"}]}',
    "Sandals are nice shoes.",
]


def sandal_requests(category_split, chunk_size=None):
    requests = build_request_table(
        category_split, LLMQueryConfig(n_queries=3, chunk_size=chunk_size, shuffle_candidates=False)
    )
    return requests[requests["target_name"] == "sandal"].reset_index(drop=True)


def test_scores_average_the_strength_metric_over_the_queries(category_split):
    requests = sandal_requests(category_split)
    parses = parse_answers(requests, SANDAL)
    scores = association_scores(requests, parses)
    assert scores["source_id"].tolist() == [0, 3, 1]  # sneaker (3+3+0)/3, ankle boot 2/3, coat 1/3
    assert scores["score"].tolist() == pytest.approx([2.0, 2 / 3, 1 / 3])
    assert scores["relation_types"].tolist() == [
        ["Is-a/Hypernym", "Synonymy/Similarity"],
        ["Co-occurrence"],
        ["Co-occurrence"],
    ]
    assert (scores["category_id"] == 4).all()


def test_chunks_are_scored_separately_and_merged(category_split):
    requests = sandal_requests(
        category_split, chunk_size=2
    )  # chunks [sneaker, coat] and [t-shirt, ankle boot]
    strengths = ["High", "Low", "Medium"]  # by query index: metric 3, 1, 2 for each chunk's first name
    texts = [
        json.dumps({"related": [{"category": names[0], "strength": strengths[q]}]})
        for names, q in zip(requests["candidate_names"], requests["query_index"], strict=True)
    ]
    scores = association_scores(requests, parse_answers(requests, texts))
    assert dict(zip(scores["source_id"], scores["score"], strict=True)) == pytest.approx({0: 2.0, 2: 2.0})


def test_statistics_count_requests_unparsed_answers_and_rejections(category_split):
    requests = sandal_requests(category_split)
    stats = parse_statistics(requests, parse_answers(requests, SANDAL))
    assert stats.to_dict("records") == [
        {
            "category_id": 4,
            "n_requests": 3,
            "n_unparsed_responses": 1,
            "n_accepted": 4,
            "n_rejected_not_in_list": 0,
            "n_rejected_self": 1,
            "n_rejected_unknown_strength": 0,
            "n_rejected_duplicate": 0,
        }
    ]
