"""Running a batch of chat requests under a backend's concurrency limit, keeping what succeeded."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from .backend import ChatBackend, ChatRequest, ChatResponse


def complete_all(
    backend: ChatBackend, requests: Sequence[ChatRequest]
) -> tuple[list[ChatResponse | None], BaseException | None]:
    """Answer ``requests`` with at most ``backend.max_concurrency`` calls in flight.

    After the first failure no further request is started; calls already running finish.

    Returns:
        The answers in request order (``None`` where a request failed or was not started) and the first
        error (``None`` when every request succeeded), so the caller can keep the answers, then raise.
    """
    failed = threading.Event()

    def call(request: ChatRequest) -> ChatResponse | None:
        if failed.is_set():
            return None
        try:
            return backend.complete(request)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=backend.max_concurrency) as pool:
        futures = [pool.submit(call, request) for request in requests]
    errors = [future.exception() for future in futures]
    answers = [
        None if error is not None else future.result() for future, error in zip(futures, errors, strict=True)
    ]
    return answers, next((error for error in errors if error is not None), None)
