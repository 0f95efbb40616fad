"""LLM relation mining (C²SRT Supplement B.3): prompt, response parser, chat backends and the response cache.

* :mod:`.prompt` builds the paper's relation prompt (text or JSON answer format) and the JSON schema that
  constrains the answer where a backend supports it.
* :mod:`.names` matches category names the LLM writes against the listed seen categories.
* :mod:`.parser` turns a response into accepted relations and counted rejections.
* :mod:`.backend` is the one interface (:class:`ChatBackend`); :mod:`.openai_backend` talks to any
  OpenAI-compatible endpoint, :mod:`.local_backend` runs a GGUF model in-process with llama.cpp.
* :mod:`.dispatch` runs a batch of requests under a backend's concurrency limit.
* :mod:`.cache` keys and rows of the response cache; :mod:`.cost` counts calls and prompt tokens of a run.
"""

from .backend import ChatBackend, ChatRequest, ChatResponse, LLMBackendError
from .parser import ParsedRelation, ParseResult, parse_relation_response
from .prompt import RELATION_TYPES, STRENGTH_SCORES, build_relation_messages, relation_response_schema

__all__ = [
    "RELATION_TYPES",
    "STRENGTH_SCORES",
    "ChatBackend",
    "ChatRequest",
    "ChatResponse",
    "LLMBackendError",
    "ParseResult",
    "ParsedRelation",
    "build_relation_messages",
    "parse_relation_response",
    "relation_response_schema",
]
