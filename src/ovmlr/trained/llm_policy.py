"""The ``llm`` policy for new label names: the relation-mining prompt asked about each new name.

The requests are exactly those the ``relation_mining`` stage would build for a category of that name with the
model's seen categories as candidates (same prompt, seeds and response schema, so the same prompt hash):
an answer cached by an earlier run (by relation mining or by an earlier prediction) is never asked again.
A new name whose answers name fewer than K seen categories is topped up by text similarity, as the relation
mining stage's ``fallback: similarity`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.core.vocabulary import ENSEMBLE
from ovmlr.llm.backend import ChatBackend, LLMBackendError
from ovmlr.llm.cache import cache_rows, cached_responses, empty_cache_frame
from ovmlr.llm.dispatch import complete_all
from ovmlr.relations.config import LLMQueryConfig
from ovmlr.relations.llm_scores import association_scores, parse_answers
from ovmlr.relations.neighbours import select_top_k
from ovmlr.relations.requests import build_request_table, to_chat_request
from ovmlr.relations.sources import similarity_scores

logger = logging.getLogger(__name__)


def _category_tables(
    seen_names: Sequence[str], seen_text: np.ndarray, new_names: Sequence[str], new_text: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ``category_split`` (seen, then the new names as unseen) and its ensemble ``text_features``."""
    names = [*seen_names, *new_names]
    split = pd.DataFrame(
        {
            "category_id": np.arange(len(names), dtype=np.int64),
            "name": names,
            "role": ["seen"] * len(seen_names) + ["unseen"] * len(new_names),
        }
    )
    text = np.concatenate([seen_text, new_text]).astype(np.float32)
    features = split[["category_id", "name"]].assign(template=ENSEMBLE, embedding=list(text))
    return split, features


def ask_missing(
    requests: pd.DataFrame, cache: pd.DataFrame, backend: ChatBackend
) -> tuple[pd.Series, pd.DataFrame]:
    """Answer texts of ``requests``: cached ones, and the others asked now.

    Returns:
        ``(texts indexed like requests, new cache rows)``.

    Raises:
        LLMBackendError: When the backend fails (the message says how many answers were obtained).
    """
    texts = cached_responses(requests, cache, backend.model_id)
    todo = requests[texts.isna().to_numpy()]
    logger.info(
        "llm policy: %d of %d answers cached, %d to ask", len(requests) - len(todo), len(requests), len(todo)
    )
    if todo.empty:
        return texts, empty_cache_frame()
    answers, error = complete_all(backend, [to_chat_request(row) for _, row in todo.iterrows()])
    if error is not None or any(a is None for a in answers):
        raise LLMBackendError(f"llm policy: the LLM failed on new label names ({error})")
    rows = cache_rows(todo, answers, parse_answers(todo, [a.text for a in answers]), backend.model_id)
    texts.loc[todo.index] = [a.text for a in answers]
    return texts, rows


def llm_neighbours(
    seen_names: Sequence[str],
    seen_text: np.ndarray,
    new_names: Sequence[str],
    new_text: np.ndarray,
    k: int,
    backend: ChatBackend,
    cache: pd.DataFrame,
    llm_params: dict[str, Any],
) -> tuple[np.ndarray, pd.DataFrame]:
    """The K seen neighbours of each new name from the LLM (similarity tops up short answers).

    Args:
        seen_names: The model's seen categories, in vocabulary order.
        seen_text: Their text features [S, D].
        new_names: Names to find neighbours for.
        new_text: Their text features [N, D].
        k: Neighbours per name.
        backend: The chat LLM.
        cache: The LLM response cache (rows of ``llm_response_cache``).
        llm_params: ``relation_mining.llm`` (see :class:`~ovmlr.relations.config.LLMQueryConfig`).

    Returns:
        ``(indices into seen_names [N, K], new cache rows to append)``.
    """
    split, features = _category_tables(seen_names, seen_text, new_names, new_text)
    requests = build_request_table(split, LLMQueryConfig.from_params(llm_params))
    requests = requests[requests["target_name"].isin(set(new_names))].reset_index(drop=True)
    texts, new_rows = ask_missing(requests, cache, backend)
    scores = association_scores(requests, parse_answers(requests, texts))
    targets = split[split["role"] == "unseen"]
    fallback = similarity_scores(split, features)
    edges = select_top_k(scores, fallback[fallback["category_id"].isin(targets["category_id"])], targets, k)
    position = {int(i): i for i in range(len(seen_names))}
    table = edges.sort_values(["target_id", "rank"]).groupby("target_id")["source_id"].apply(list)
    out = np.array(
        [[position[int(j)] for j in table[int(t)]] for t in targets["category_id"]], dtype=np.int64
    )
    return out, new_rows


class LLMNeighbourSource:
    """What the ``llm`` policy needs: a backend, the response cache, the prompt settings.

    Answers obtained while preparing labels are appended to :attr:`cache` and collected in
    :meth:`new_cache_rows`, for the caller to store (the ``predict`` pipeline appends them to
    ``llm_response_cache``).
    """

    def __init__(self, backend: ChatBackend, cache: pd.DataFrame, llm_params: dict[str, Any]) -> None:
        self.backend = backend
        self.cache = cache
        self.llm_params = dict(llm_params)
        self._new: list[pd.DataFrame] = []

    def neighbours(
        self,
        seen_names: Sequence[str],
        seen_text: np.ndarray,
        new_names: Sequence[str],
        new_text: np.ndarray,
        k: int,
    ) -> np.ndarray:
        """Indices into ``seen_names`` [N, K] of each new name's neighbours."""
        out, rows = llm_neighbours(
            seen_names, seen_text, new_names, new_text, k, self.backend, self.cache, self.llm_params
        )
        if len(rows):
            self._new.append(rows)
            self.cache = pd.concat([self.cache, rows], ignore_index=True)
        return out

    @staticmethod
    def empty_rows() -> pd.DataFrame:
        """No new answers (an empty cache frame)."""
        return empty_cache_frame()

    def new_cache_rows(self) -> pd.DataFrame:
        """The answers asked by this source (empty cache frame if none)."""
        return pd.concat(self._new, ignore_index=True) if self._new else empty_cache_frame()
