"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server) as a backend."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import openai

from .backend import ChatRequest, ChatResponse, LLMBackendError

logger = logging.getLogger(__name__)

# Transient failures worth another try: 429, 5xx, timeouts and refused/broken connections.
RETRYABLE_ERRORS = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)


class OpenAIChatBackend:
    """Chat completions through the official ``openai`` client, with retries and a concurrency limit.

    The client is created on the first call, so a run whose answers are all cached needs neither a key
    nor a reachable endpoint.

    Args:
        model: Model name the endpoint serves (``gpt-4o``, ``Qwen/Qwen2.5-7B-Instruct``, ``llama3.1:8b``);
            also the ``model`` key of cached answers.
        base_url: Endpoint root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``.
        api_key: The key (from ``conf/local/credentials.yml``); ``None`` reads ``api_key_env``.
        api_key_env: Environment variable holding the key when ``api_key`` is not given.
        require_api_key: Fail when no key is found; ``False`` for local servers that ignore keys.
        timeout_s: Per-attempt timeout in seconds.
        max_retries: Extra attempts after a 429, a 5xx, a timeout or a connection error.
        backoff_s: First wait before a retry; doubles each retry (with up to 25 % jitter).
        max_backoff_s: Longest wait between attempts.
        max_concurrency: Requests in flight at once.
        structured_output: Send the JSON schema of a request as ``response_format`` (OpenAI structured
            outputs, vLLM and Ollama support it); ``False`` for endpoints that reject it. It goes without
            ``strict``, so OpenAI takes it as guidance; its schema limits apply in strict mode, which the
            schema respects anyway (names past :data:`~ovmlr.llm.prompt.MAX_SCHEMA_ENUM_VALUES` are free).
        sleep: Waiting function (tests pass a recorder).
    """

    def __init__(  # noqa: PLR0913 - client settings, each a keyword with a default
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        require_api_key: bool = True,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_concurrency: int = 4,
        structured_output: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0 or max_concurrency < 1 or timeout_s <= 0:
            raise ValueError(
                f"need max_retries >= 0, max_concurrency >= 1, timeout_s > 0; got {max_retries}, "
                f"{max_concurrency}, {timeout_s}"
            )
        self.model_id = model
        self.base_url = base_url
        self.max_concurrency = max_concurrency
        self._api_key, self._api_key_env, self._require_key = api_key, api_key_env, require_api_key
        self._timeout_s, self._max_retries = timeout_s, max_retries
        self._backoff_s, self._max_backoff_s = backoff_s, max_backoff_s
        self._structured_output = structured_output
        self._sleep = sleep
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()

    def _resolve_key(self) -> str:
        key = self._api_key or os.environ.get(self._api_key_env)
        if key:
            return key
        if self._require_key:
            raise LLMBackendError(
                f"no API key for the LLM endpoint {self.base_url}: set the environment variable "
                f"{self._api_key_env}, or put `api_key` in conf/local/credentials.yml and reference it from "
                "the "
                "llm_backend catalog entry (or set require_api_key: false for a local server)"
            )
        return "not-needed"

    def client(self) -> openai.OpenAI:
        """The ``openai`` client (created once; the client's own retries are off: this class retries)."""
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    api_key=self._resolve_key(),
                    base_url=self.base_url,
                    timeout=self._timeout_s,
                    max_retries=0,
                )
            return self._client

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """Keyword arguments of ``chat.completions.create`` for ``request``."""
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": list(request.messages),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "seed": request.seed,
        }
        if request.json_schema is not None and self._structured_output:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "related_categories", "schema": request.json_schema},
            }
        return body

    def _wait(self, attempt: int) -> float:
        delay = min(self._max_backoff_s, self._backoff_s * 2**attempt)
        return delay * (1.0 + 0.25 * random.random())

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion, retried on 429/5xx/timeouts/connection errors with exponential backoff.

        Raises:
            LLMBackendError: Non-retryable HTTP errors at once (naming status and message); retryable
                ones once ``max_retries`` retries have failed.
        """
        client, body, start = self.client(), self.request_body(request), time.monotonic()
        for attempt in range(self._max_retries + 1):
            try:
                completion = client.chat.completions.create(**body)
            except RETRYABLE_ERRORS as exc:
                if attempt == self._max_retries:
                    raise LLMBackendError(
                        f"LLM endpoint {self.base_url} (model {self.model_id}) failed after "
                        f"{attempt + 1} attempts: {type(exc).__name__}: {exc}"
                    ) from exc
                delay = self._wait(attempt)
                logger.warning(
                    "LLM call failed (%s: %s); retry %d in %.1f s",
                    type(exc).__name__,
                    exc,
                    attempt + 1,
                    delay,
                )
                self._sleep(delay)
            except openai.APIStatusError as exc:
                raise LLMBackendError(
                    f"LLM endpoint {self.base_url} (model {self.model_id}) rejected the request: "
                    f"HTTP {exc.status_code}: {exc.message}"
                ) from exc
            else:
                return _to_response(completion, time.monotonic() - start)
        raise AssertionError("unreachable")  # the loop returns or raises

    def __repr__(self) -> str:
        return (
            f"OpenAIChatBackend({self.model_id!r}, base_url={self.base_url!r}, "
            f"max_concurrency={self.max_concurrency})"
        )


def _to_response(completion: Any, latency_s: float) -> ChatResponse:
    if not completion.choices:
        raise LLMBackendError(f"LLM endpoint returned no choices (response id {completion.id!r})")
    choice, usage = completion.choices[0], completion.usage
    return ChatResponse(
        text=choice.message.content or "",
        finish_reason=str(choice.finish_reason or ""),
        prompt_tokens=int(usage.prompt_tokens) if usage else -1,
        completion_tokens=int(usage.completion_tokens) if usage else -1,
        latency_s=latency_s,
    )
