"""A read-only Kedro dataset whose ``load`` gives the configured chat LLM backend.

Where the LLM lives (backend, endpoint, model, key, timeouts) is configuration, not code: it is declared
in the catalog like any other resource, and the key comes from ``conf/local/credentials.yml`` or an
environment variable, never from ``conf/base``. Loading creates no connection and loads no model; the
backend does that on its first call, so a fully cached run works offline.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ovmlr.llm.backend import ChatBackend
from ovmlr.llm.local_backend import LocalLlamaBackend
from ovmlr.llm.openai_backend import OpenAIChatBackend

BACKENDS = ("local", "openai")


class LLMBackendDataset(AbstractDataset[Any, ChatBackend]):
    """The chat LLM used for relation mining.

    Example catalog entry (``conf/base/catalog_relation_mining.yml``)::

        llm_backend:
          type: ovmlr.datasets.LLMBackendDataset
          backend: openai
          openai: {model: gpt-4o, base_url: "https://api.openai.com/v1", max_concurrency: 4}
          # credentials: llm_endpoint   # conf/local/credentials.yml -> llm_endpoint: {api_key: ...}

    Args:
        backend: ``local`` (in-process llama.cpp, GGUF) or ``openai`` (any OpenAI-compatible endpoint).
        local: Options of :class:`~ovmlr.llm.local_backend.LocalLlamaBackend`.
        openai: Options of :class:`~ovmlr.llm.openai_backend.OpenAIChatBackend`.
        credentials: ``{"api_key": ...}`` for the ``openai`` backend.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self,
        backend: str,
        local: dict[str, Any] | None = None,
        openai: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise DatasetError(f"llm_backend.backend must be one of {BACKENDS}, got {backend!r}")
        self._backend = backend
        self._options = dict((local if backend == "local" else openai) or {})
        self._api_key = (credentials or {}).get("api_key")
        self._instance: ChatBackend | None = None
        self.metadata = metadata

    def _build(self) -> ChatBackend:
        try:
            if self._backend == "local":
                return LocalLlamaBackend(**self._options)
            return OpenAIChatBackend(**self._options, api_key=self._api_key)
        except TypeError as exc:
            raise DatasetError(f"llm_backend.{self._backend}: bad option ({exc})") from exc

    def _load(self) -> ChatBackend:
        if self._instance is None:
            self._instance = self._build()
        return self._instance

    def _save(self, data: Any) -> None:
        raise DatasetError("llm_backend is read-only: it configures the LLM, it stores nothing")

    def _describe(self) -> dict[str, Any]:
        return {"backend": self._backend, **{k: v for k, v in self._options.items() if "key" not in k}}
