"""A small OpenAI-compatible chat-completions server on 127.0.0.1 (stdlib ``http.server``) for tests.

It answers ``POST .../chat/completions`` with whatever a ``responder(request_json, call_number)`` returns
(a :class:`Reply`: status, content, optional delay before answering) and records every request body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: HTTP ``status``; ``content`` of the assistant message (200) or error text."""

    content: str
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"


def completion_body(reply: Reply, model: str) -> dict[str, Any]:
    """A chat.completion JSON body as OpenAI returns it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


class RecordedOpenAIServer:
    """Context manager: ``with RecordedOpenAIServer(responder) as server: server.base_url``."""

    def __init__(self, responder: Callable[[dict[str, Any], int], Reply]) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    call = len(server.requests)
                reply = server.responder(body, call)
                time.sleep(reply.delay_s)
                payload = (
                    completion_body(reply, body.get("model", ""))
                    if reply.status == 200
                    else {"error": {"message": reply.content, "type": "server_error", "code": reply.status}}
                )
                data = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        return Handler

    def __enter__(self) -> RecordedOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
