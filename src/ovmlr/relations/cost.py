"""What a mining run costs: LLM calls and prompt tokens, counted with a model's own tokenizer.

Used to size a run before making it (e.g. NUS-WIDE with GPT-4o, or whether a prompt fits a small
context window); ``count_tokens`` is e.g.
:meth:`ovmlr.llm.local_backend.LocalLlamaBackend.count_prompt_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class MiningCost:
    """Calls and tokens of a request table.

    Attributes:
        n_calls: LLM calls (requests without a cached answer, or all of them).
        prompt_tokens: Sum of the prompts' tokens (chat template included).
        max_prompt_tokens: The longest prompt (must fit the context window with ``max_tokens``).
        max_completion_tokens: Upper bound on answer tokens (``n_calls * max_tokens``).
    """

    n_calls: int
    prompt_tokens: int
    max_prompt_tokens: int
    max_completion_tokens: int


def mining_cost(requests: pd.DataFrame, count_tokens: Callable[[list[dict[str, str]]], int]) -> MiningCost:
    """Count calls and prompt tokens of ``requests`` (each distinct prompt is tokenized once)."""
    counts: dict[str, int] = {}
    for prompt_hash, messages in zip(requests["prompt_hash"], requests["messages"], strict=True):
        if prompt_hash not in counts:
            counts[prompt_hash] = int(count_tokens(json.loads(messages)))
    per_request = requests["prompt_hash"].map(counts)
    return MiningCost(
        n_calls=len(requests),
        prompt_tokens=int(per_request.sum()),
        max_prompt_tokens=int(per_request.max()) if len(requests) else 0,
        max_completion_tokens=int(requests["max_tokens"].sum()),
    )
