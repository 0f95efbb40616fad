"""Rows and keys of the LLM response cache (one row per answered request).

A cached answer is identified by ``(prompt_hash, model, query_index)``: the prompt and answer schema
(:func:`ovmlr.llm.prompt.prompt_hash`), the backend's ``model_id`` and which of the ``n_queries`` repeated
queries it answers. Sampling settings are recorded but are not part of the key, so a cache mined
elsewhere (e.g. with GPT-4o) is reused as long as prompt, model name and query index agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from .backend import ChatResponse
from .parser import ParseResult

KEY_COLUMNS = ["prompt_hash", "model", "query_index"]
CACHE_COLUMNS = [
    *KEY_COLUMNS,
    "target_name",
    "chunk_index",
    "response_text",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "seed",
    "temperature",
    "max_tokens",
    "parsed_relations",
    "n_accepted",
    "n_rejected",
    "created_at",
]


def empty_cache_frame() -> pd.DataFrame:
    """A cache chunk with no row (what a mining run with nothing new yields)."""
    return pd.DataFrame({column: pd.Series(dtype="object") for column in CACHE_COLUMNS})


def check_cache_columns(cache: pd.DataFrame, source: str) -> None:
    """Raise ``ValueError`` naming ``source`` and the column when a non-empty cache lacks a needed column."""
    missing = [c for c in [*KEY_COLUMNS, "response_text"] if c not in cache.columns]
    if len(cache) and missing:
        raise ValueError(
            f"LLM response cache {source} lacks column(s) {missing}; found {list(cache.columns)}"
        )


def cached_responses(requests: pd.DataFrame, cache: pd.DataFrame, model: str) -> pd.Series:
    """The cached answer text of each request for ``model`` (``NaN`` where none), indexed like ``requests``.

    When the cache holds an answer twice (e.g. two runs raced), the first stored one is used.
    """
    check_cache_columns(cache, "llm_response_cache")
    if cache.empty:
        return pd.Series(float("nan"), index=requests.index, dtype="object")
    mine = cache.loc[cache["model"] == model, [*KEY_COLUMNS, "response_text"]]
    mine = mine.astype({"query_index": "int64"}).drop_duplicates(KEY_COLUMNS, keep="first")
    keyed = requests[["prompt_hash", "query_index"]].astype({"query_index": "int64"}).assign(model=model)
    merged = keyed.merge(mine, on=KEY_COLUMNS, how="left", validate="many_to_one")
    return pd.Series(merged["response_text"].to_numpy(), index=requests.index, dtype="object")


def parsed_json(result: ParseResult) -> str:
    """The accepted relations of a parse as a JSON list (stored with the raw answer)."""
    return json.dumps(
        [
            {"category": r.name, "relationship": r.relation_type, "strength": r.strength}
            for r in result.relations
        ],
        ensure_ascii=False,
    )


def cache_rows(
    requests: pd.DataFrame, answers: Sequence[ChatResponse], parses: Sequence[ParseResult], model: str
) -> pd.DataFrame:
    """New cache rows for answered ``requests`` (same order as ``answers`` and ``parses``)."""
    now = pd.Timestamp.now("UTC").isoformat()
    return pd.DataFrame(
        {
            "prompt_hash": requests["prompt_hash"].to_numpy(),
            "model": model,
            "query_index": requests["query_index"].astype("int64").to_numpy(),
            "target_name": requests["target_name"].to_numpy(),
            "chunk_index": requests["chunk_index"].astype("int64").to_numpy(),
            "response_text": [a.text for a in answers],
            "finish_reason": [a.finish_reason for a in answers],
            "prompt_tokens": [a.prompt_tokens for a in answers],
            "completion_tokens": [a.completion_tokens for a in answers],
            "latency_s": [a.latency_s for a in answers],
            "seed": requests["seed"].astype("int64").to_numpy(),
            "temperature": requests["temperature"].astype("float64").to_numpy(),
            "max_tokens": requests["max_tokens"].astype("int64").to_numpy(),
            "parsed_relations": [parsed_json(p) for p in parses],
            "n_accepted": [len(p.relations) for p in parses],
            "n_rejected": [sum(p.rejections.values()) for p in parses],
            "created_at": now,
        },
        columns=CACHE_COLUMNS,
    )
