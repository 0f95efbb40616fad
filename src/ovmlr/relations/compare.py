"""The relation sources side by side, like the paper's Fig. 10: the same categories' K neighbours from
co-occurrence statistics, text similarity, WordNet and the LLM, and how much the neighbour sets agree.

Each source's edges come from :func:`.select.relation_neighbours` (the selection IST trains with, fallback
included); each panel is drawn by :func:`.graph_plot.draw_relation_panel`. A source that cannot be computed
is left out with a logged note and named in the figure's subtitle, never dropped silently: ``llm`` when no
LLM scores were mined, ``wordnet`` without its database, any source short of K under the ``fail`` fallback.

The agreement of two sources :math:`a, b` is the mean over the categories :math:`c` of the Jaccard index
of their neighbour sets,

.. math::
    J(a, b) = \\frac{1}{C} \\sum_c \\frac{|N_a(c) \\cap N_b(c)|}{|N_a(c) \\cup N_b(c)|}.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .config import FALLBACKS, SOURCES, WordNetConfig, check_choice
from .graph_plot import draw_relation_panel, relation_subgraph
from .llm_scores import STATS_COLUMNS
from .neighbours import FALLBACK_TYPE, check_k
from .requests import check_category_split
from .select import relation_neighbours

logger = logging.getLogger(__name__)

DEFAULT_SOURCES = ("cooccurrence", "similarity", "wordnet", "llm")
OVERLAP_COLUMNS = ["source", "other_source", "mean_jaccard", "mean_jaccard_seen", "mean_jaccard_unseen"]
NO_LLM_SCORES = "llm_relation_scores is empty (mine them with relation_mining.source: llm)"


def pick_compare_targets(
    category_split: pd.DataFrame, targets: Sequence[str] | None, max_targets: int
) -> list[str]:
    """``targets`` if all are category names; ``None``: the first ``max_targets`` unseen (else any) ones.

    Raises:
        ValueError: On an unknown name, an empty list, or ``max_targets`` < 1, naming the parameter.
    """
    names = category_split["name"].tolist()
    if targets is None:
        if max_targets < 1:
            raise ValueError(f"relation_mining.plot.compare_max_targets must be >= 1, got {max_targets}")
        unseen = category_split.loc[category_split["role"] == "unseen", "name"].tolist()
        return (unseen or names)[:max_targets]
    unknown = [t for t in targets if t not in names]
    if unknown or not targets:
        raise ValueError(
            f"relation_mining.plot.compare_targets must be category names, got {list(targets)} "
            f"(unknown: {unknown}); categories: {names[:10]}..."
        )
    return list(dict.fromkeys(targets))


def _check_sources(sources: Sequence[str]) -> list[str]:
    if not sources or len(set(sources)) != len(sources):
        raise ValueError(
            f"relation_mining.plot.compare_sources must list distinct sources, got {list(sources)}"
        )
    return [check_choice("plot.compare_sources", s, SOURCES) for s in sources]


def _skip(source: str, reason: str, detail: str) -> str:
    logger.info("relation source comparison: %r not drawn: %s", source, detail)
    return reason


def source_edges(  # noqa: PLR0913 - the relation tables and relation_mining settings, each named
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    train_labels: pd.DataFrame,
    llm_relation_scores: pd.DataFrame,
    sources: Sequence[str],
    k: int,
    fallback: str,
    seed: int,
    wordnet: dict[str, Any] | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every available source's ``relation_edges`` (as :func:`.select.relation_neighbours` selects them).

    Args:
        category_split: ``category_id``, ``name``, ``role`` per category.
        text_features: Long text-feature table (``similarity`` source and the fallback).
        train_labels: Training labels over seen categories (``cooccurrence`` source).
        llm_relation_scores: Mean LLM strengths (``llm`` source); empty when the LLM was not asked.
        sources: The sources to compare, in panel order.
        k, fallback, seed, wordnet: As for :func:`.select.relation_neighbours`.

    Returns:
        Source → its edge table, for the sources computed; source → why not, for those left out.

    Raises:
        ValueError: On an unknown or repeated source, or an invalid ``k``, ``fallback`` or ``wordnet``.
    """
    check_category_split(category_split)
    check_k(category_split, k)
    check_choice("fallback", fallback, FALLBACKS)
    root = WordNetConfig.from_params(wordnet).root
    no_stats = pd.DataFrame(columns=STATS_COLUMNS)
    edges, skipped = {}, {}
    for source in _check_sources(sources):
        if source == "llm" and llm_relation_scores.empty:
            skipped[source] = _skip(source, "no LLM relation scores", NO_LLM_SCORES)
            continue
        try:
            edges[source], _, _ = relation_neighbours(
                category_split,
                text_features,
                train_labels,
                llm_relation_scores,
                no_stats,
                source,
                k,
                fallback,
                seed,
                wordnet,
            )
        except FileNotFoundError as error:  # the wordnet source without its database
            if source != "wordnet":
                raise
            skipped[source] = _skip(source, f"no WordNet database at {root}", str(error))
        except ValueError as error:  # after the checks above: fewer than k neighbours under 'fail'
            if fallback != "fail":
                raise
            skipped[source] = _skip(source, f"fewer than k={k} neighbours (fallback: fail)", str(error))
    return edges, skipped


def _neighbour_sets(edges: pd.DataFrame) -> dict[int, frozenset[int]]:
    grouped = edges.groupby("target_id")["source_id"]
    return {int(target): frozenset(int(s) for s in ids) for target, ids in grouped}


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """``|a ∩ b| / |a ∪ b|``; two empty sets agree (1)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def neighbour_overlap(edges: dict[str, pd.DataFrame], category_split: pd.DataFrame) -> pd.DataFrame:
    """Per ordered pair of sources, the mean Jaccard index of their neighbour sets (module docstring):
    over every category, the seen ones and the unseen ones (NaN when there is none).

    Returns:
        ``OVERLAP_COLUMNS``; one row per (source, other source), the diagonal included (1).
    """
    ids = category_split["category_id"].astype(int).tolist()
    unseen = (category_split["role"] == "unseen").to_numpy()
    sets = {source: _neighbour_sets(frame) for source, frame in edges.items()}
    rows = []
    for a, of_a in sets.items():
        for b, of_b in sets.items():
            index = np.array([jaccard(of_a.get(c, frozenset()), of_b.get(c, frozenset())) for c in ids])
            by_role = [float(index[mask].mean()) if mask.any() else np.nan for mask in (~unseen, unseen)]
            rows.append((a, b, float(index.mean()), *by_role))
    return pd.DataFrame(rows, columns=OVERLAP_COLUMNS)


def _panel_title(source: str, edges: pd.DataFrame, targets: list[str]) -> str:
    into = edges[edges["target_name"].isin(targets)]
    n_fallback = int(into["relation_types"].map(lambda types: FALLBACK_TYPE in list(types)).sum())
    return f"{source}\n{n_fallback} of {len(into)} edges into the targets from the fallback"


def _subtitle(targets: list[str], k: int, skipped: dict[str, str]) -> str:
    title = (
        f"Relation graphs of {', '.join(map(repr, targets))} by source (K={k}): targets orange, seen "
        "neighbours blue, edge width = score, dashed = similarity fallback"
    )
    notes = "; ".join(f"{source}: {reason}" for source, reason in skipped.items())
    return f"{title}\nnot drawn: {notes}" if notes else title


def draw_source_comparison(
    edges: dict[str, pd.DataFrame], targets: Sequence[str], k: int, skipped: dict[str, str] | None = None
) -> Figure:
    """One panel per source (in ``edges`` order) of the same targets and their K neighbours.

    Args:
        edges: Source → its ``relation_edges`` (:func:`source_edges`).
        targets: Category names drawn in every panel.
        k: Neighbours per category (in the title).
        skipped: Source → why it is not drawn (in the subtitle).

    Returns:
        The figure (no pyplot state is touched); a figure that says so when no source is left.
    """
    targets, skipped = list(targets), dict(skipped or {})
    figure = Figure(figsize=(5.5 * max(len(edges), 1), 6.5), dpi=110, layout="constrained")
    if not edges:
        ax = figure.add_subplot()
        ax.text(0.5, 0.5, "no relation source could be drawn", ha="center", va="center")
        ax.set_axis_off()
    else:
        for ax, (source, frame) in zip(
            figure.subplots(1, len(edges), squeeze=False)[0], edges.items(), strict=True
        ):
            graph = relation_subgraph(frame, targets)
            draw_relation_panel(ax, graph, targets, _panel_title(source, frame, targets), node_scale=0.75)
    figure.suptitle(_subtitle(targets, k, skipped), fontsize=10)
    return figure
