"""The ``openai`` backend against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import pytest
from recorded_openai_server import RecordedOpenAIServer, Reply

from ovmlr.llm.backend import ChatRequest, LLMBackendError
from ovmlr.llm.openai_backend import OpenAIChatBackend

REQUEST = ChatRequest(
    messages=({"role": "user", "content": "Which seen categories relate to sandal?"},),
    seed=3,
    temperature=0.5,
    max_tokens=64,
    json_schema={"type": "object", "properties": {"related": {"type": "array"}}},
)


def make_backend(base_url: str, sleeps: list[float], **overrides) -> OpenAIChatBackend:
    options = {
        "model": "test-model",
        "base_url": base_url,
        "api_key": "sk-test",
        "max_retries": 2,
        "backoff_s": 0.01,
    }
    return OpenAIChatBackend(**{**options, **overrides}, sleep=sleeps.append)


def test_complete_sends_the_request_and_returns_the_answer():
    sleeps: list[float] = []
    with RecordedOpenAIServer(lambda body, call: Reply('{"related": []}')) as server:
        answer = make_backend(server.base_url, sleeps).complete(REQUEST)
    assert answer.text == '{"related": []}'
    assert (answer.finish_reason, answer.prompt_tokens, answer.completion_tokens) == ("stop", 11, 7)
    (body,) = server.requests
    assert body["model"] == "test-model"
    assert body["messages"] == list(REQUEST.messages)
    assert (body["seed"], body["temperature"], body["max_tokens"]) == (3, 0.5, 64)
    assert body["response_format"]["json_schema"]["schema"] == REQUEST.json_schema
    assert sleeps == []


def test_structured_output_off_sends_no_response_format():
    with RecordedOpenAIServer(lambda body, call: Reply("ok")) as server:
        make_backend(server.base_url, [], structured_output=False).complete(REQUEST)
    assert "response_format" not in server.requests[0]


def test_a_500_is_retried_with_backoff_then_succeeds():
    sleeps: list[float] = []
    script = {1: Reply("overloaded", status=500), 2: Reply("overloaded", status=503)}
    with RecordedOpenAIServer(lambda body, call: script.get(call, Reply("fine"))) as server:
        answer = make_backend(server.base_url, sleeps).complete(REQUEST)
    assert answer.text == "fine"
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.0125 and 0.02 <= sleeps[1] <= 0.025  # doubling, at most 25 % jitter


def test_a_429_is_retried():
    script = {1: Reply("slow down", status=429)}
    with RecordedOpenAIServer(lambda body, call: script.get(call, Reply("fine"))) as server:
        assert make_backend(server.base_url, []).complete(REQUEST).text == "fine"
    assert len(server.requests) == 2


def test_persistent_500_fails_clearly_after_the_retries():
    with RecordedOpenAIServer(lambda body, call: Reply("boom", status=500)) as server:
        backend = make_backend(server.base_url, [])
        with pytest.raises(LLMBackendError, match=r"failed after 3 attempts: InternalServerError"):
            backend.complete(REQUEST)
    assert len(server.requests) == 3


def test_a_timeout_fails_clearly_after_the_retries():
    with RecordedOpenAIServer(lambda body, call: Reply("late", delay_s=1.0)) as server:
        backend = make_backend(server.base_url, [], timeout_s=0.2, max_retries=1)
        with pytest.raises(LLMBackendError, match=r"test-model\) failed after 2 attempts: APITimeoutError"):
            backend.complete(REQUEST)
    assert len(server.requests) == 2


def test_a_400_is_not_retried():
    with (
        RecordedOpenAIServer(lambda body, call: Reply("unknown model", status=400)) as server,
        pytest.raises(LLMBackendError, match=r"rejected the request: HTTP 400"),
    ):
        make_backend(server.base_url, []).complete(REQUEST)
    assert len(server.requests) == 1


def test_an_unreachable_endpoint_fails_after_the_retries():
    with RecordedOpenAIServer(lambda body, call: Reply("")) as server:
        base_url = server.base_url
    backend = make_backend(base_url, [], max_retries=1)  # the server is shut down: connection refused
    with pytest.raises(LLMBackendError, match=r"failed after 2 attempts: APIConnectionError"):
        backend.complete(REQUEST)


def test_missing_key_is_an_error_naming_where_to_put_it(monkeypatch):
    monkeypatch.delenv("OVMLR_TEST_KEY", raising=False)
    backend = OpenAIChatBackend(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="OVMLR_TEST_KEY")
    with pytest.raises(LLMBackendError, match=r"OVMLR_TEST_KEY.*conf/local/credentials.yml"):
        backend.complete(REQUEST)


def test_key_from_the_environment_and_no_client_before_the_first_call(monkeypatch):
    monkeypatch.setenv("OVMLR_TEST_KEY", "sk-env")
    backend = OpenAIChatBackend(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="OVMLR_TEST_KEY")
    assert backend._client is None
    assert backend.client().api_key == "sk-env"


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="max_concurrency >= 1"):
        OpenAIChatBackend(model="m", base_url="http://x", max_concurrency=0)
