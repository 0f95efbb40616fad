"""The K related seen categories of every category, from one relation source with an explicit fallback."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .config import FALLBACKS, SOURCES, WordNetConfig, check_choice
from .neighbours import check_k, log_fallbacks, neighbour_table, select_top_k
from .report import relation_report
from .requests import check_category_split
from .sources import cooccurrence_scores, random_scores, similarity_scores
from .wordnet import wordnet_scores


def _source_scores(
    source: str,
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    train_labels: pd.DataFrame,
    llm_relation_scores: pd.DataFrame,
    seed: int,
    wordnet: WordNetConfig,
) -> pd.DataFrame:
    if source == "llm":
        return llm_relation_scores
    if source == "similarity":
        return similarity_scores(category_split, text_features)
    if source == "cooccurrence":
        return cooccurrence_scores(category_split, train_labels)
    if source == "wordnet":
        return wordnet_scores(category_split, wordnet)
    return random_scores(category_split, seed)


def relation_neighbours(  # noqa: PLR0913 - the relation tables and relation_mining settings
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    train_labels: pd.DataFrame,
    llm_relation_scores: pd.DataFrame,
    llm_parse_stats: pd.DataFrame,
    source: str,
    k: int,
    fallback: str,
    seed: int,
    wordnet: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The K related seen categories of every category from the chosen source, with the explicit fallback.

    Args:
        category_split: ``category_id``, ``name``, ``role`` per category.
        text_features: Long text-feature table (``__ensemble__`` rows: similarity source and fallback).
        train_labels: Training labels over seen categories (``cooccurrence`` source).
        llm_relation_scores: Mean strength metrics (``llm`` source).
        llm_parse_stats: Per-category parse statistics (``llm`` source).
        source: ``llm``, ``similarity``, ``cooccurrence``, ``random`` or ``wordnet``.
        k: Neighbours per category.
        fallback: ``similarity`` (top up from text similarity, recorded) or ``fail``.
        seed: Seed of the ``random`` source.
        wordnet: ``relation_mining.wordnet`` (``wordnet`` source; see :class:`WordNetConfig`); ``None``: the
            defaults.

    Returns:
        ``relation_edges``, ``category_neighbours`` and ``relation_parse_report``.
    """
    check_category_split(category_split)
    check_choice("source", source, SOURCES)
    check_k(category_split, k)
    wordnet_config = WordNetConfig.from_params(wordnet)
    scores = _source_scores(
        source, category_split, text_features, train_labels, llm_relation_scores, seed, wordnet_config
    )
    use_similarity = check_choice("fallback", fallback, FALLBACKS) == "similarity"
    fallback_scores = similarity_scores(category_split, text_features) if use_similarity else None
    edges = select_top_k(scores, fallback_scores, category_split, k)
    log_fallbacks(edges, source)
    report = relation_report(category_split, edges, llm_parse_stats, source)
    return edges, neighbour_table(edges, category_split), report
