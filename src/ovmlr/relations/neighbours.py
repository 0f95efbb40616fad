"""Top-K related seen categories per category, filled by an explicit fallback where a source gives fewer.

Ranking: descending score, ties broken by ascending ``source_id``. Neighbours are seen categories, never
the category itself. A category with fewer than K scored sources is topped up from the ``similarity``
ranking (``relation_types = ["fallback:similarity"]``, ``score`` = the cosine) or, with ``fail``, the run
stops naming every such category.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

EDGE_COLUMNS = ["source_id", "source_name", "target_id", "target_name", "score", "relation_types", "rank"]
FALLBACK_TYPE = "fallback:similarity"


def check_k(category_split: pd.DataFrame, k: int) -> int:
    """``k`` if every category can get ``k`` distinct seen neighbours other than itself."""
    n_seen = int((category_split["role"] == "seen").sum())
    if not 1 <= k <= n_seen - 1:
        raise ValueError(
            f"relation_mining.k must be in [1, {n_seen - 1}] with {n_seen} seen categories, got {k}"
        )
    return k


def _ranked(scores: pd.DataFrame) -> dict[int, pd.DataFrame]:
    ordered = scores.sort_values(["category_id", "score", "source_id"], ascending=[True, False, True])
    return {int(c): group for c, group in ordered.groupby("category_id", sort=False)}


def _pick(primary: pd.DataFrame | None, fallback: pd.DataFrame | None, k: int) -> pd.DataFrame:
    """The first ``k`` of ``primary``, topped up with ``fallback`` sources not already picked."""
    chosen = primary.head(k) if primary is not None else None
    n_chosen = 0 if chosen is None else len(chosen)
    if n_chosen == k:
        return chosen
    taken = set() if chosen is None else set(chosen["source_id"])
    extra = fallback[~fallback["source_id"].isin(taken)].head(k - n_chosen)
    extra = extra.assign(relation_types=[[FALLBACK_TYPE] for _ in range(len(extra))])
    return extra if chosen is None or chosen.empty else pd.concat([chosen, extra], ignore_index=True)


def _short_categories(
    primary: dict[int, pd.DataFrame], ids: list[int], names: dict[int, str], k: int
) -> list[str]:
    counts = {c: len(primary[c]) if c in primary else 0 for c in ids}
    return [f"{names[c]!r} ({counts[c]} of {k})" for c in ids if counts[c] < k]


def select_top_k(
    scores: pd.DataFrame,
    fallback_scores: pd.DataFrame | None,
    category_split: pd.DataFrame,
    k: int,
) -> pd.DataFrame:
    """The K best sources of every category as an edge list (``rank`` 1 = best).

    Args:
        scores: The source's long score table (``category_id``, ``source_id``, ``score``, ``relation_types``).
        fallback_scores: The similarity table used to top up; ``None`` = the ``fail`` fallback.
        category_split: Categories, in the order of the output.
        k: Neighbours per category.

    Raises:
        ValueError: With ``fallback_scores=None``, naming every category with fewer than ``k`` sources.
    """
    ids = category_split["category_id"].astype(int).tolist()
    names = dict(zip(ids, category_split["name"], strict=True))
    primary = _ranked(scores)
    if fallback_scores is None:
        short = _short_categories(primary, ids, names, k)
        if short:
            raise ValueError(
                f"relation_mining.fallback is 'fail' and these categories got fewer than k={k} related "
                f"categories: {', '.join(short)}"
            )
    fallback = _ranked(fallback_scores) if fallback_scores is not None else {}
    parts = []
    for target in ids:
        picked = _pick(primary.get(target), fallback.get(target), k)
        parts.append(picked.assign(target_id=target, rank=np.arange(1, len(picked) + 1)))
    edges = pd.concat(parts, ignore_index=True)
    edges["target_name"] = edges["target_id"].map(names)
    edges["source_name"] = edges["source_id"].map(names)
    return edges.astype({"source_id": "int64", "target_id": "int64", "score": "float64", "rank": "int64"})[
        EDGE_COLUMNS
    ]


def neighbour_table(edges: pd.DataFrame, category_split: pd.DataFrame) -> pd.DataFrame:
    """``category_id`` → ``neighbour_ids`` (K seen ids, best first), in ``category_split`` order."""
    lists = (
        edges.sort_values(["target_id", "rank"])
        .groupby("target_id")["source_id"]
        .agg(lambda s: [int(i) for i in s])
    )
    ids = category_split["category_id"].astype(int)
    return pd.DataFrame({"category_id": ids.to_numpy(), "neighbour_ids": [lists[i] for i in ids]})


def log_fallbacks(edges: pd.DataFrame, source: str, shown: int = 8) -> None:
    """One warning for the categories whose neighbours came (partly) from the fallback: how many, how many of
    their neighbours, and the first ``shown`` names (the full list is in the relation report)."""
    is_fallback = edges["relation_types"].map(lambda types: FALLBACK_TYPE in types)
    counts = edges[is_fallback].groupby("target_name", sort=False).size()
    if counts.empty:
        return
    names = ", ".join(f"{name!r} ({count})" for name, count in counts.head(shown).items())
    more = f" and {len(counts) - shown} more" if len(counts) > shown else ""
    logger.warning(
        "relation source %r: %d categories got %d neighbours in all from the similarity fallback: %s%s",
        source,
        len(counts),
        int(counts.sum()),
        names,
        more,
    )
