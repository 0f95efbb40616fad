"""The LLM response cache: rows, lookup by (prompt_hash, model, query_index), sharded round trip."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ovmlr.datasets import ShardedParquetDataset
from ovmlr.llm.backend import ChatResponse
from ovmlr.llm.cache import CACHE_COLUMNS, cache_rows, cached_responses, empty_cache_frame
from ovmlr.llm.parser import parse_relation_response


def requests_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt_hash": ["h1", "h1", "h2"],
            "query_index": [0, 1, 0],
            "target_name": ["sandal", "sandal", "bag"],
            "chunk_index": [0, 0, 0],
            "seed": [0, 1, 0],
            "temperature": [0.7, 0.7, 0.7],
            "max_tokens": [64, 64, 64],
            "candidate_names": [["sneaker", "coat"]] * 3,
        }
    )


def answers(texts: list[str]) -> list[ChatResponse]:
    return [ChatResponse(t, "stop", 10, 5, 0.25) for t in texts]


def rows_for(requests: pd.DataFrame, texts: list[str], model: str) -> pd.DataFrame:
    parses = [
        parse_relation_response(t, ["sneaker", "coat"], n)
        for t, n in zip(texts, requests["target_name"], strict=True)
    ]
    return cache_rows(requests, answers(texts), parses, model)


def test_cache_rows_record_answer_parse_and_settings():
    requests = requests_frame().iloc[:1]
    rows = rows_for(
        requests,
        ['{"related":[{"category":"sneaker","strength":"High"},{"category":"hat","strength":"Low"}]}'],
        "m",
    )
    assert list(rows.columns) == CACHE_COLUMNS
    row = rows.iloc[0]
    assert (row["prompt_hash"], row["model"], row["query_index"], row["seed"]) == ("h1", "m", 0, 0)
    assert json.loads(row["parsed_relations"]) == [
        {"category": "sneaker", "relationship": "", "strength": "High"}
    ]
    assert (row["n_accepted"], row["n_rejected"], row["prompt_tokens"], row["latency_s"]) == (1, 1, 10, 0.25)


def test_round_trip_through_shards_and_lookup_by_model(tmp_path):
    requests = requests_frame()
    dataset = ShardedParquetDataset(str(tmp_path / "cache"))
    dataset.save(rows_for(requests.iloc[:2], ["a0", "a1"], "model-a"))
    dataset.save(rows_for(requests.iloc[2:], ["b"], "model-b"))
    dataset.save(rows_for(requests.iloc[:1], ["a0-again"], "model-a"))  # a duplicate: the first one wins
    cache = dataset.load()
    looked_up = cached_responses(requests, cache, "model-a")
    assert looked_up.iloc[:2].tolist() == ["a0", "a1"] and pd.isna(looked_up.iloc[2])
    assert cached_responses(requests, cache, "model-b").isna().tolist() == [True, True, False]


def test_empty_cache_answers_nothing():
    looked_up = cached_responses(requests_frame(), empty_cache_frame(), "m")
    assert looked_up.isna().all() and list(looked_up.index) == [0, 1, 2]


def test_a_cache_without_key_columns_is_an_error():
    broken = pd.DataFrame({"prompt_hash": ["h1"], "response_text": ["x"]})
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['model', 'query_index'\]"):
        cached_responses(requests_frame(), broken, "m")


def test_an_empty_chunk_writes_no_shard(tmp_path):
    dataset = ShardedParquetDataset(str(tmp_path / "cache"))
    dataset.save(empty_cache_frame())
    assert dataset.shard_paths() == []
