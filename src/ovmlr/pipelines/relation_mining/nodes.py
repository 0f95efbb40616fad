"""Nodes of the ``relation_mining`` pipeline: IST's inter-category graph (Sec. 3.4, Supplement B.3).

For every category the LLM is asked which seen categories relate to it (``n_queries`` times); strengths
are averaged and the top K seen categories become its neighbours. The non-LLM sources of Table 4
(``similarity``, ``cooccurrence``, ``random``, ``wordnet``) produce the same outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ovmlr.llm.backend import ChatBackend, LLMBackendError
from ovmlr.llm.cache import cache_rows, cached_responses, empty_cache_frame
from ovmlr.llm.dispatch import complete_all
from ovmlr.relations.compare import (
    draw_source_comparison,
    neighbour_overlap,
    pick_compare_targets,
    source_edges,
)
from ovmlr.relations.config import SOURCES, LLMQueryConfig, check_choice
from ovmlr.relations.graph_plot import draw_relation_graph, pick_plot_target, relation_subgraph
from ovmlr.relations.llm_scores import (
    SCORE_COLUMNS,
    STATS_COLUMNS,
    association_scores,
    parse_answers,
    parse_statistics,
)
from ovmlr.relations.requests import (
    REQUEST_COLUMNS,
    build_request_table,
    check_category_split,
    to_chat_request,
)

logger = logging.getLogger(__name__)


def build_llm_requests(
    category_split: pd.DataFrame, source: str, k: int, llm_params: dict[str, Any]
) -> pd.DataFrame:
    """The LLM requests of the run (none unless ``source`` is ``llm``).

    Args:
        category_split: ``category_id``, ``name``, ``role`` per category.
        source: ``relation_mining.source``.
        k: ``relation_mining.k``: a JSON answer listing fewer (``max_relations``) is warned about.
        llm_params: ``relation_mining.llm`` (see :class:`LLMQueryConfig`).

    Returns:
        One row per (category, chunk of seen candidates, query index) with the prompt and its hash.
    """
    config = LLMQueryConfig.from_params(llm_params)
    if check_choice("source", source, SOURCES) != "llm":
        return pd.DataFrame(columns=REQUEST_COLUMNS)
    if config.output_format == "json" and config.max_relations < k:
        logger.warning(
            "relation_mining.llm.max_relations=%d < k=%d: one answer cannot name all k neighbours; expect "
            "similarity-fallback neighbours unless the %d queries name different ones (raise max_relations "
            "and max_tokens)",
            config.max_relations,
            k,
            config.n_queries,
        )
    requests = build_request_table(check_category_split(category_split), config)
    logger.info(
        "%d LLM requests: %d categories x %d chunk(s) x %d queries",
        len(requests),
        category_split.shape[0],
        requests["n_chunks"].max(),
        config.n_queries,
    )
    return requests


def _answer_batch(
    batch: pd.DataFrame, backend: ChatBackend
) -> tuple[pd.DataFrame | None, BaseException | None]:
    """Cache rows of the requests of ``batch`` that were answered, and the first error (if any)."""
    answers, error = complete_all(backend, [to_chat_request(row) for _, row in batch.iterrows()])
    ok = [i for i, answer in enumerate(answers) if answer is not None]
    if not ok:
        return None, error
    done, texts = batch.iloc[ok], [answers[i] for i in ok]
    return cache_rows(done, texts, parse_answers(done, [a.text for a in texts]), backend.model_id), error


def _stopped(error: LLMBackendError, n_new: int) -> LLMBackendError:
    return LLMBackendError(
        f"LLM relation mining stopped: {error} ({n_new} new answers were cached; re-run to resume)"
    )


def mine_llm_responses(
    llm_requests: pd.DataFrame, cached: pd.DataFrame, backend: ChatBackend, llm_params: dict[str, Any]
) -> Iterator[pd.DataFrame]:
    """Ask the LLM every request without a cached answer; yield each batch of answers as cache rows.

    A generator node: every yielded chunk is saved at once as one shard of ``llm_response_cache``, so an
    interrupted or failed run keeps what it mined and a re-run asks only for what is missing.

    Args:
        llm_requests: The run's requests.
        cached: The cache as it was before this run.
        backend: The chat LLM (loaded only when a call is needed).
        llm_params: ``relation_mining.llm`` (``save_every`` = answers per shard).

    Raises:
        LLMBackendError: When the backend fails (after its retries); answers already obtained are saved.
    """
    config = LLMQueryConfig.from_params(llm_params)
    todo = llm_requests[cached_responses(llm_requests, cached, backend.model_id).isna().to_numpy()]
    n_cached = len(llm_requests) - len(todo)
    logger.info(
        "LLM %s: %d of %d answers cached, %d to ask", backend.model_id, n_cached, len(llm_requests), len(todo)
    )
    n_new = 0
    for start in range(0, len(todo), config.save_every):
        rows, error = _answer_batch(todo.iloc[start : start + config.save_every], backend)
        if rows is not None:
            n_new += len(rows)
            yield rows
        if isinstance(error, LLMBackendError):
            raise _stopped(error, n_new) from error
        if error is not None:
            raise error
        logger.info("LLM answers: %d of %d new", n_new, len(todo))
    if n_new == 0:
        yield empty_cache_frame()
    logger.info("%d new LLM calls (%d answers came from the cache)", n_new, n_cached)


def score_llm_relations(
    llm_requests: pd.DataFrame, llm_response_cache: pd.DataFrame, backend: ChatBackend
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the cached answers of the run's requests into association scores and parse statistics.

    Returns:
        ``llm_relation_scores`` (target, seen source, mean strength metric, relation types) and
        ``llm_parse_stats`` (per category: requests, unparsed answers, accepted items, rejections).

    Raises:
        ValueError: When a request has no cached answer for the backend's model.
    """
    if llm_requests.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS), pd.DataFrame(columns=STATS_COLUMNS)
    texts = cached_responses(llm_requests, llm_response_cache, backend.model_id)
    if texts.isna().any():
        first = llm_requests[texts.isna().to_numpy()].iloc[0]
        raise ValueError(
            f"{int(texts.isna().sum())} LLM answers for model {backend.model_id!r} are missing from "
            f"llm_response_cache (first: {first['target_name']!r}, query {first['query_index']})"
        )
    parses = parse_answers(llm_requests, texts)
    return association_scores(llm_requests, parses), parse_statistics(llm_requests, parses)


def plot_relation_graph(
    relation_edges: pd.DataFrame, category_split: pd.DataFrame, target: str | None, source: str
) -> Figure:
    """Fig. 10-style graph of one category (``relation_mining.plot.target``; ``None`` = first unseen)."""
    name = pick_plot_target(category_split, target)
    k = int((relation_edges["target_name"] == name).sum())
    return draw_relation_graph(
        relation_subgraph(relation_edges, name), name, f"{source} relations of {name!r} (K={k})"
    )


def compare_relation_sources(  # noqa: PLR0913 - a Kedro node: one argument per catalog dataset
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    train_labels: pd.DataFrame,
    llm_relation_scores: pd.DataFrame,
    k: int,
    fallback: str,
    seed: int,
    wordnet: dict[str, Any] | None,
    sources: list[str],
    targets: list[str] | None,
    max_targets: int,
) -> tuple[Figure, pd.DataFrame]:
    """Fig. 10: the same categories' K neighbours from each relation source, side by side.

    Args:
        category_split, text_features, train_labels, llm_relation_scores: The sources' inputs (the LLM
            scores are empty unless ``relation_mining.source`` is ``llm``: that panel is then left out and
            named in the subtitle).
        k, fallback, seed, wordnet: ``relation_mining.{k,fallback,seed,wordnet}``.
        sources: ``relation_mining.plot.compare_sources``, in panel order.
        targets: ``relation_mining.plot.compare_targets``; ``None`` = the first unseen categories.
        max_targets: ``relation_mining.plot.compare_max_targets`` (with ``targets`` ``None``).

    Returns:
        ``relation_graphs_compared`` (one panel per source) and ``relation_source_overlap`` (mean Jaccard
        index of the neighbour sets per pair of sources).
    """
    names = pick_compare_targets(category_split, targets, max_targets)
    edges, skipped = source_edges(
        category_split, text_features, train_labels, llm_relation_scores, sources, k, fallback, seed, wordnet
    )
    return draw_source_comparison(edges, names, k, skipped), neighbour_overlap(edges, category_split)
