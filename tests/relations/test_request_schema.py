"""Request tables past the structured-output enum limit: a free name field, and one log line saying so."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from ovmlr.llm.prompt import MAX_SCHEMA_ENUM_VALUES
from ovmlr.relations.config import LLMQueryConfig
from ovmlr.relations.requests import build_request_table, to_chat_request


def large_split(n_seen: int) -> pd.DataFrame:
    names = [f"category {i}" for i in range(n_seen)] + ["novel"]
    roles = ["seen"] * n_seen + ["unseen"]
    return pd.DataFrame({"category_id": range(n_seen + 1), "name": names, "role": roles})


def name_field(row: pd.Series) -> dict:
    schema = to_chat_request(row).json_schema
    return schema["properties"]["related"]["items"]["properties"]["category"]


def test_candidate_lists_past_the_limit_get_a_free_name_field_and_a_warning(caplog):
    config = LLMQueryConfig(n_queries=1, output_format="json")
    with caplog.at_level(logging.WARNING, logger="ovmlr.relations.requests"):
        requests = build_request_table(large_split(MAX_SCHEMA_ENUM_VALUES), config)
    assert all("enum" not in name_field(row) for _, row in requests.iterrows())
    (record,) = caplog.records
    assert f"{len(requests)} of {len(requests)} candidate lists" in record.getMessage()
    assert "chunk_size" in record.getMessage()


def test_chunks_within_the_limit_keep_the_enum_and_log_nothing(caplog):
    config = LLMQueryConfig(n_queries=1, output_format="json", chunk_size=250)
    with caplog.at_level(logging.WARNING, logger="ovmlr.relations.requests"):
        requests = build_request_table(large_split(MAX_SCHEMA_ENUM_VALUES), config)
    assert set(requests["n_chunks"]) == {2}
    assert all(
        sorted(name_field(row)["enum"]) == sorted(row["candidate_names"]) for _, row in requests.iterrows()
    )
    assert caplog.records == []


def test_text_requests_never_warn(caplog):
    config = LLMQueryConfig(n_queries=1, output_format="text")
    with caplog.at_level(logging.WARNING, logger="ovmlr.relations.requests"):
        build_request_table(large_split(MAX_SCHEMA_ENUM_VALUES), config)
    assert caplog.records == []


def test_the_enum_budget_is_a_parameter_and_null_keeps_every_name_constrained():
    config = LLMQueryConfig(n_queries=1, output_format="json", max_schema_enum_values=None)
    requests = build_request_table(large_split(MAX_SCHEMA_ENUM_VALUES), config)
    assert all(
        sorted(name_field(row)["enum"]) == sorted(row["candidate_names"]) for _, row in requests.iterrows()
    )
    with pytest.raises(ValueError, match="max_schema_enum_values must be >= 9"):
        LLMQueryConfig.from_params({"max_schema_enum_values": 3})
