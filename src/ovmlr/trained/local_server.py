"""A logged model served by ``mlflow models serve`` on 127.0.0.1: what the tests and the benchmarks talk to.

:class:`LocalServer` starts the server in its own process group (its log in a file, never a pipe that could
fill and block it), waits for ``/ping``, posts requests, reads the memory of the server's processes from
``/proc`` and stops them all::

    with LocalServer("models:/ovmlr-c2srt-tagged-art@champion", env={"OVMLR_MAX_ROWS": "8"}) as server:
        status, body = server.post({"dataframe_records": [{"image": b64}], "params": {"labels": ["cat"]}})
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def post_json(url: str, body: Mapping[str, Any] | bytes, timeout_s: float = 120.0) -> tuple[int, Any]:
    """``(status, parsed JSON or text)`` of a JSON POST; an HTTP error status is returned, not raised."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def memory_bytes(pids: list[int], field: str = "VmRSS") -> int:
    """Sum of a ``/proc/<pid>/status`` memory field (``VmRSS`` now, ``VmHWM`` peak) over ``pids``, bytes."""
    total = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) * 1024 for line in lines if line.startswith(f"{field}:"))
    return total


class LocalServer:
    """``mlflow models serve -m <model_uri> --env-manager local -h 127.0.0.1`` as a context manager.

    Args:
        model_uri: The logged model (``models:/name@alias``, a folder, ``runs:/…``).
        env: Environment of the server (default: this process's), e.g. the ``OVMLR_*`` limits.
        workers: Uvicorn workers.
        startup_timeout_s: How long to wait for ``/ping``.
    """

    def __init__(
        self,
        model_uri: str,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        startup_timeout_s: float = 240.0,
    ) -> None:
        self.model_uri, self.workers, self.startup_timeout_s = model_uri, workers, startup_timeout_s
        self.env = dict(os.environ if env is None else env)
        # mlflow starts `uvicorn` from PATH: the interpreter's bin folder must be on it
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen | None = None
        # open for the server's lifetime, closed (and removed) by stop()
        self._log = tempfile.NamedTemporaryFile(prefix="ovmlr-serve-", suffix=".log", delete=False)  # noqa: SIM115

    def __enter__(self) -> LocalServer:
        command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", self.model_uri]
        command += ["--env-manager", "local", "-h", HOST, "-p", str(self.port), "-w", str(self.workers)]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """The server's output so far."""
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        """True while the server answers ``/ping``."""
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited: {self.log()[-3000:]}")
            if self.alive():
                return
            time.sleep(0.5)
        raise TimeoutError(f"mlflow models serve did not answer /ping in {self.startup_timeout_s:.0f} s")

    def post(self, body: Mapping[str, Any] | bytes, timeout_s: float = 120.0) -> tuple[int, Any]:
        """``(status, body)`` of ``POST /invocations``."""
        return post_json(self.url + "/invocations", body, timeout_s)

    def pids(self) -> list[int]:
        """The server's processes (``mlflow`` and the ``uvicorn`` it starts)."""
        return process_tree(self.process.pid) if self.process and self.process.poll() is None else []

    def memory(self, field: str = "VmRSS") -> int:
        """Bytes of ``field`` summed over the server's processes (``VmRSS``; ``VmHWM`` for the peak)."""
        return memory_bytes(self.pids(), field)

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after 30 s)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
