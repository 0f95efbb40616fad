"""Running a batch of requests under a concurrency limit, keeping what succeeded."""

from __future__ import annotations

import threading
import time

from ovmlr.llm.backend import ChatRequest, ChatResponse, LLMBackendError
from ovmlr.llm.dispatch import complete_all


class CountingBackend:
    """Answers with the request's seed; fails on ``fail_seed``; records peak concurrency."""

    model_id = "counting"

    def __init__(self, max_concurrency: int, fail_seed: int | None = None) -> None:
        self.max_concurrency, self.fail_seed = max_concurrency, fail_seed
        self.calls: list[int] = []
        self.active = self.peak = 0
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self.calls.append(request.seed)
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.02)
        with self._lock:
            self.active -= 1
        if request.seed == self.fail_seed:
            raise LLMBackendError(f"seed {request.seed} failed")
        return ChatResponse(f"answer {request.seed}", "stop", 1, 1, 0.02)


def requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest(({"role": "user", "content": "q"},), seed=i, temperature=0.0, max_tokens=8)
        for i in range(n)
    ]


def test_answers_come_back_in_request_order_within_the_concurrency_limit():
    backend = CountingBackend(max_concurrency=3)
    answers, error = complete_all(backend, requests(7))
    assert error is None
    assert [a.text for a in answers] == [f"answer {i}" for i in range(7)]
    assert backend.peak == 3


def test_a_failure_keeps_earlier_answers_and_starts_nothing_new():
    backend = CountingBackend(max_concurrency=1, fail_seed=2)
    answers, error = complete_all(backend, requests(6))
    assert isinstance(error, LLMBackendError) and "seed 2 failed" in str(error)
    assert [a.text if a else None for a in answers] == ["answer 0", "answer 1", None, None, None, None]
    assert backend.calls == [0, 1, 2]
