"""The LLM requests of a mining run: one per category, chunk of seen candidates and query index.

A ``json`` request whose candidate list is too long for a structured-output ``enum``
(:func:`~ovmlr.llm.prompt.name_enum_fits`) gets a schema whose category name is a free string, and the
run logs one warning saying how many lists that concerns. The list is not chunked automatically:
chunking changes what the model is asked (the paper lists every seen category in one prompt), multiplies
the calls and changes every cached prompt, so ``chunk_size`` stays the user's choice; the parser checks
the names against the list either way.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from ovmlr.llm.backend import ChatRequest
from ovmlr.llm.prompt import (
    LARGE_ENUM_VALUES,
    MAX_LARGE_ENUM_CHARS,
    MAX_SCHEMA_ENUM_VALUES,
    build_relation_messages,
    name_enum_fits,
    prompt_hash,
    relation_response_schema,
)

from .config import LLMQueryConfig

logger = logging.getLogger(__name__)

REQUEST_COLUMNS = [
    "category_id",
    "target_name",
    "chunk_index",
    "n_chunks",
    "query_index",
    "candidate_ids",
    "candidate_names",
    "messages",
    "response_schema",
    "prompt_hash",
    "seed",
    "temperature",
    "max_tokens",
]


def check_category_split(category_split: pd.DataFrame) -> pd.DataFrame:
    """``category_split`` if it has ``category_id``, ``name``, ``role`` (seen/unseen) and a seen category.

    Raises:
        ValueError: Naming the missing column, the bad role value or the duplicated name.
    """
    missing = [c for c in ("category_id", "name", "role") if c not in category_split.columns]
    if missing:
        raise ValueError(f"category_split lacks column(s) {missing}; found {list(category_split.columns)}")
    bad = sorted(set(category_split["role"]) - {"seen", "unseen"})
    if bad:
        raise ValueError(f"category_split.role must be 'seen' or 'unseen'; found {bad}")
    duplicated = category_split.loc[category_split["name"].duplicated(), "name"].tolist()
    if duplicated:
        raise ValueError(f"category_split.name has duplicates: {duplicated}")
    if not (category_split["role"] == "seen").any():
        raise ValueError("category_split has no seen category: nothing to relate categories to")
    return category_split


def chunk_candidates(candidate_ids: list[int], chunk_size: int | None) -> list[list[int]]:
    """Contiguous, near-equal chunks of at most ``chunk_size`` candidates (one chunk when ``None``)."""
    if chunk_size is None or len(candidate_ids) <= chunk_size:
        return [list(candidate_ids)]
    n_chunks = -(-len(candidate_ids) // chunk_size)
    return [[int(i) for i in part] for part in np.array_split(np.asarray(candidate_ids), n_chunks)]


def listing_order(
    chunk: list[int], config: LLMQueryConfig, category_id: int, chunk_index: int, query: int
) -> list[int]:
    """The order query ``query`` lists ``chunk`` in: category order, or a seeded shuffle per query.

    Shuffling (``shuffle_candidates``) spreads a model's bias for the first listed names over all of
    them, so that averaging the ``n_queries`` answers does not simply reward list position.
    """
    if not config.shuffle_candidates:
        return list(chunk)
    rng = np.random.default_rng([config.seed, category_id, chunk_index, query])
    return [chunk[i] for i in rng.permutation(len(chunk))]


def _query_row(
    target_id: int, target: str, listed: list[int], names: dict[int, str], config: LLMQueryConfig
) -> dict:
    candidate_names = [names[i] for i in listed]
    messages = build_relation_messages(target, candidate_names, config.output_format)
    schema = (
        relation_response_schema(
            candidate_names, config.max_relations, config.max_explanation_chars, config.max_schema_enum_values
        )
        if config.output_format == "json"
        else None
    )
    return {
        "category_id": target_id,
        "target_name": target,
        "candidate_ids": listed,
        "candidate_names": candidate_names,
        "messages": json.dumps(messages, ensure_ascii=False),
        "response_schema": json.dumps(schema, ensure_ascii=False) if schema else None,
        "prompt_hash": prompt_hash(messages, schema),
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
    }


def _warn_of_free_names(n_free: int, n_lists: int) -> None:
    if n_free:
        logger.warning(
            "%d of %d candidate lists are too long for an enum in a structured-output schema (OpenAI's "
            "limits: %d enum values in all; %d characters for an enum of more than %d values): their JSON "
            "schema leaves the category name a free string, checked against the list when parsed. A "
            "relation_mining.llm.chunk_size of at most %d keeps the names constrained.",
            n_free,
            n_lists,
            MAX_SCHEMA_ENUM_VALUES,
            MAX_LARGE_ENUM_CHARS,
            LARGE_ENUM_VALUES,
            LARGE_ENUM_VALUES,
        )


def build_request_table(category_split: pd.DataFrame, config: LLMQueryConfig) -> pd.DataFrame:
    """Every request of a run, in category order: the paper's prompt per category over its seen candidates.

    Each category's candidates are all seen categories but itself, chunked by ``config.chunk_size``;
    each query lists its chunk in :func:`listing_order`. Logs a warning when a ``json`` request's
    candidates are too many for the answer schema's name ``enum`` (see the module docstring).
    """
    names = dict(zip(category_split["category_id"].astype(int), category_split["name"], strict=True))
    seen = category_split.loc[category_split["role"] == "seen", "category_id"].astype(int).tolist()
    rows, n_free, n_lists = [], 0, 0
    for target_id, target in names.items():
        chunks = chunk_candidates([i for i in seen if i != target_id], config.chunk_size)
        n_lists += len(chunks)
        n_free += sum(
            not name_enum_fits([names[i] for i in chunk], config.max_schema_enum_values) for chunk in chunks
        )
        for chunk_index, chunk in enumerate(chunks):
            for q in range(config.n_queries):
                listed = listing_order(chunk, config, target_id, chunk_index, q)
                row = _query_row(target_id, target, listed, names, config)
                rows.append(
                    {
                        **row,
                        "chunk_index": chunk_index,
                        "n_chunks": len(chunks),
                        "query_index": q,
                        "seed": config.seed + q,
                    }
                )
    if config.output_format == "json":
        _warn_of_free_names(n_free, n_lists)
    return pd.DataFrame(rows, columns=REQUEST_COLUMNS)


def to_chat_request(row: pd.Series) -> ChatRequest:
    """The :class:`ChatRequest` of one row of the request table."""
    return ChatRequest(
        messages=tuple(json.loads(row["messages"])),
        seed=int(row["seed"]),
        temperature=float(row["temperature"]),
        max_tokens=int(row["max_tokens"]),
        json_schema=json.loads(row["response_schema"]) if isinstance(row["response_schema"], str) else None,
    )
