"""LLM answers → association scores (Supplement B.3) and per-category parse statistics.

The score of seen category ``s`` for target ``c`` is the mean over the ``n_queries`` answers of the chunk
listing ``s`` of its strength metric (High 3, Medium 2, Low 1, not mentioned 0):

.. math::
    a_{c,s} = \\frac{1}{Q} \\sum_{q=1}^{Q} m(\\text{strength}_q(c, s)), \\qquad m \\in \\{0, 1, 2, 3\\}
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd

from ovmlr.llm.parser import REJECTION_REASONS, ParseResult, parse_relation_response

SCORE_COLUMNS = ["category_id", "source_id", "score", "relation_types"]
STATS_COLUMNS = [
    "category_id",
    "n_requests",
    "n_unparsed_responses",
    "n_accepted",
    *(f"n_rejected_{reason}" for reason in REJECTION_REASONS),
]


def parse_answers(requests: pd.DataFrame, texts: pd.Series) -> list[ParseResult]:
    """Parse each request's answer against the candidates its prompt listed."""
    return [
        parse_relation_response(text, list(row["candidate_names"]), row["target_name"])
        for (_, row), text in zip(requests.iterrows(), texts, strict=True)
    ]


def _accumulate(requests: pd.DataFrame, parses: list[ParseResult]):
    totals: dict[tuple[int, int], float] = defaultdict(float)
    types: dict[tuple[int, int], Counter] = defaultdict(Counter)
    n_queries = requests.groupby(["category_id", "chunk_index"])["query_index"].transform("size")
    for (_, row), parse, q in zip(requests.iterrows(), parses, n_queries, strict=True):
        ids = dict(zip(row["candidate_names"], row["candidate_ids"], strict=True))
        for relation in parse.relations:
            key = (int(row["category_id"]), int(ids[relation.name]))
            totals[key] += relation.score / q
            types[key][relation.relation_type or "unspecified"] += 1
    return totals, types


def association_scores(requests: pd.DataFrame, parses: list[ParseResult]) -> pd.DataFrame:
    """Mean strength metric per (target, seen source) pair mentioned at least once.

    Returns:
        ``category_id`` (target), ``source_id``, ``score`` (in (0, 3]) and ``relation_types`` (the types
        the answers gave, most frequent first), sorted by target then descending score.
    """
    totals, types = _accumulate(requests, parses)
    rows = [
        {
            "category_id": target,
            "source_id": source,
            "score": score,
            "relation_types": [
                t for t, _ in sorted(types[(target, source)].items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }
        for (target, source), score in totals.items()
    ]
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    return frame.sort_values(
        ["category_id", "score", "source_id"], ascending=[True, False, True], ignore_index=True
    )


def parse_statistics(requests: pd.DataFrame, parses: list[ParseResult]) -> pd.DataFrame:
    """Per target category: requests, answers that failed to parse, accepted items, rejections by reason."""
    stats: dict[int, Counter] = defaultdict(Counter)
    for category_id, parse in zip(requests["category_id"].astype(int), parses, strict=True):
        counter = stats[category_id]
        counter["n_requests"] += 1
        counter["n_unparsed_responses"] += int(not parse.parsed)
        counter["n_accepted"] += len(parse.relations)
        for reason in REJECTION_REASONS:
            counter[f"n_rejected_{reason}"] += parse.rejections[reason]
    rows = [{"category_id": c, **{k: counter[k] for k in STATS_COLUMNS[1:]}} for c, counter in stats.items()]
    return pd.DataFrame(rows, columns=STATS_COLUMNS).astype("int64")
