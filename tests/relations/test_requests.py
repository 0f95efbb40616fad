"""The request table: one prompt per category, chunk and query; never the category itself."""

from __future__ import annotations

import json

import pytest

from ovmlr.relations.config import LLMQueryConfig
from ovmlr.relations.requests import (
    build_request_table,
    check_category_split,
    chunk_candidates,
    to_chat_request,
)


def test_one_request_per_category_and_query_listing_all_other_seen(category_split):
    requests = build_request_table(
        category_split, LLMQueryConfig(n_queries=3, seed=10, shuffle_candidates=False)
    )
    assert len(requests) == 6 * 3
    sneaker = requests[requests["target_name"] == "sneaker"]
    assert sneaker["candidate_ids"].tolist() == [[1, 2, 3]] * 3
    assert sneaker["seed"].tolist() == [10, 11, 12]
    sandal = requests[requests["target_name"] == "sandal"].iloc[0]
    assert sandal["candidate_names"] == ["sneaker", "coat", "t-shirt", "ankle boot"]
    assert (
        "List of Seen Categories:\n\nsneaker, coat, t-shirt, ankle boot\n\n"
        in json.loads(sandal["messages"])[0]["content"]
    )
    assert requests["prompt_hash"].nunique() == 6  # unshuffled: the queries of a category share one prompt


def test_shuffled_queries_list_the_same_candidates_in_seeded_orders(category_split):
    config = LLMQueryConfig(n_queries=3, seed=0, shuffle_candidates=True)
    requests = build_request_table(category_split, config)
    sandal = requests[requests["target_name"] == "sandal"]
    assert all(sorted(ids) == [0, 1, 2, 3] for ids in sandal["candidate_ids"])
    assert sandal["candidate_ids"].map(tuple).nunique() > 1
    assert requests.equals(build_request_table(category_split, config))  # reproducible


def test_chunks_split_the_candidates_and_cover_them_once(category_split):
    requests = build_request_table(
        category_split, LLMQueryConfig(n_queries=2, chunk_size=3, shuffle_candidates=False)
    )
    sandal = requests[(requests["target_name"] == "sandal") & (requests["query_index"] == 0)]
    assert sandal["candidate_ids"].tolist() == [[0, 1], [2, 3]]
    assert sandal["n_chunks"].tolist() == [2, 2]
    assert len(requests[requests["target_name"] == "sneaker"]) == 2  # 3 candidates fit one chunk


@pytest.mark.parametrize(
    ("n", "size", "expected"), [(5, None, [5]), (5, 5, [5]), (5, 2, [2, 2, 1]), (925, 200, [185] * 5)]
)
def test_chunk_sizes(n, size, expected):
    chunks = chunk_candidates(list(range(n)), size)
    assert [len(c) for c in chunks] == expected
    assert sum(chunks, []) == list(range(n))


def test_json_requests_carry_their_schema(category_split):
    requests = build_request_table(
        category_split, LLMQueryConfig(n_queries=1, output_format="json", max_relations=2)
    )
    request = to_chat_request(requests.iloc[0])
    assert request.json_schema["properties"]["related"]["maxItems"] == 2
    assert sorted(
        request.json_schema["properties"]["related"]["items"]["properties"]["category"]["enum"]
    ) == sorted(requests.iloc[0]["candidate_names"])
    text = build_request_table(category_split, LLMQueryConfig(n_queries=1, output_format="text"))
    assert to_chat_request(text.iloc[0]).json_schema is None


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_queries": 0}, r"n_queries must be >= 1"),
        ({"output_format": "xml"}, "output_format must be one of"),
        ({"chunk_size": 0}, "chunk_size must be >= 1 or null"),
        ({"n_query": 3}, r"unknown relation_mining.llm parameter\(s\) \['n_query'\]"),
    ],
)
def test_bad_llm_parameters_are_rejected(params, match):
    with pytest.raises(ValueError, match=match):
        LLMQueryConfig.from_params(params)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.drop(columns="role"), r"lacks column\(s\) \['role'\]"),
        (lambda f: f.assign(role=["seen"] * 5 + ["novel"]), r"must be 'seen' or 'unseen'; found \['novel'\]"),
        (lambda f: f.assign(role="unseen"), "no seen category"),
        (lambda f: f.assign(name=["a", "a", "b", "c", "d", "e"]), r"duplicates: \['a'\]"),
    ],
)
def test_bad_category_split_is_rejected(category_split, change, match):
    with pytest.raises(ValueError, match=match):
        check_category_split(change(category_split))
