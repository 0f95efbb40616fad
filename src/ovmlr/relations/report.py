"""``relation_parse_report``: per category, what the source gave, what was rejected, what was filled in."""

from __future__ import annotations

import pandas as pd

from .llm_scores import STATS_COLUMNS
from .neighbours import FALLBACK_TYPE

REPORT_COLUMNS = [
    "category_id",
    "name",
    "role",
    "source",
    *STATS_COLUMNS[1:],
    "all_responses_unparsed",
    "n_source_neighbours",
    "n_fallback_neighbours",
    "fallback",
]


def relation_report(
    category_split: pd.DataFrame, edges: pd.DataFrame, parse_stats: pd.DataFrame, source: str
) -> pd.DataFrame:
    """One row per category: LLM parse counts (zeros for other sources) and neighbour provenance.

    Args:
        category_split: Categories, in output order.
        edges: The selected edges (``relation_types`` marks fallback edges).
        parse_stats: Per-category LLM parse statistics (empty for non-LLM sources).
        source: The relation source of the run.
    """
    report = category_split[["category_id", "name", "role"]].astype({"category_id": "int64"}).copy()
    report["source"] = source
    stats = parse_stats.reindex(columns=STATS_COLUMNS).astype({"category_id": "int64"})
    report = report.merge(stats, on="category_id", how="left")
    counts = STATS_COLUMNS[1:]
    report[counts] = report[counts].fillna(0).astype("int64")
    report["all_responses_unparsed"] = (report["n_requests"] > 0) & (
        report["n_unparsed_responses"] == report["n_requests"]
    )
    is_fallback = edges["relation_types"].map(lambda types: FALLBACK_TYPE in types)
    n_fallback = edges[is_fallback].groupby("target_id").size()
    n_total = edges.groupby("target_id").size()
    report["n_fallback_neighbours"] = report["category_id"].map(n_fallback).fillna(0).astype("int64")
    report["n_source_neighbours"] = (
        report["category_id"].map(n_total).fillna(0).astype("int64") - report["n_fallback_neighbours"]
    )
    report["fallback"] = report["n_fallback_neighbours"].map(lambda n: "similarity" if n else "")
    return report[REPORT_COLUMNS]
