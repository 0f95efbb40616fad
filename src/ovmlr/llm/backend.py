"""The one interface every chat LLM backend implements, and its request/response types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


class LLMBackendError(RuntimeError):
    """A backend could not answer (endpoint down, timeouts after retries, bad request, context overflow)."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completion request.

    Attributes:
        messages: OpenAI-style ``[{"role": ..., "content": ...}]``.
        seed: Sampling seed (backends that support it); query ``q`` of a category uses ``seed + q``.
        temperature: Sampling temperature.
        max_tokens: Bound on the answer's tokens.
        json_schema: When set, the answer must be JSON of this schema (constrained where supported).
    """

    messages: tuple[dict[str, str], ...]
    seed: int
    temperature: float
    max_tokens: int
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChatResponse:
    """A backend's answer with its bookkeeping.

    Attributes:
        text: The assistant message's content.
        finish_reason: ``stop``, ``length`` (cut by ``max_tokens``), ...
        prompt_tokens: Tokens of the prompt as the backend counted them (-1 when not reported).
        completion_tokens: Tokens of the answer (-1 when not reported).
        latency_s: Wall time of the call, retries included.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


@runtime_checkable
class ChatBackend(Protocol):
    """A chat LLM.

    ``model_id`` names the model in the response cache (a cached answer is reused only for the same
    model); reading it must not load the model or contact an endpoint. ``max_concurrency`` is how many
    :meth:`complete` calls may run at once from different threads.
    """

    model_id: str
    max_concurrency: int

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request``; raise :class:`LLMBackendError` when that is impossible."""
        ...
