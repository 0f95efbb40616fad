"""Run a command and see whether anything in it tried to reach another machine.

How, and why this way: a Python audit hook (``audit_hook/sitecustomize.py``, imported at start-up by every
Python process whose ``PYTHONPATH`` starts with that folder) records each ``socket.connect``,
``socket.sendto``, ``socket.getaddrinfo`` and ``socket.gethostbyname`` before it runs. Every telemetry client
the project's tools carry (kedro-telemetry, Kedro-Viz, MLflow) is Python using ``socket`` (through
``requests``/``urllib3``), so the hook sees it whether or not the machine is online, and it tells *what*
tried, which a closed network alone would not. Where ``unshare -n`` is allowed (root on Linux), commands that
need no network run in an empty network namespace as well, so that nothing can leave even if something the
hook does not see (a non-Python child) tried. The commands run with every telemetry switch removed from the
environment (and the variables that make tools believe they run in CI or under pytest), so what is checked is
the project's own opt-out: its ``.telemetry`` file and :mod:`ovmlr.telemetry`.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

HOOK_FOLDER = Path(__file__).resolve().parent / "audit_hook"
LOG_VARIABLE = "OVMLR_NETWORK_AUDIT_LOG"
# The switches a user may set, and what makes MLflow believe it runs in CI or a test (no telemetry there).
UNSET = (
    "KEDRO_DISABLE_TELEMETRY",
    "MLFLOW_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "PYTEST_CURRENT_TEST",
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "BUILDKITE",
    "TF_BUILD",
)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "", "None"}


def audited_env(log: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without telemetry switches, with the audit hook on."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in UNSET}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK_FOLDER), env.get("PYTHONPATH", "")) if p)
    env[LOG_VARIABLE] = str(log)
    return env


def audit_events(log: Path) -> list[dict[str, str]]:
    """Every recorded event: ``start`` (a process the audit ran in) and each socket call."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def outbound_attempts(log: Path) -> list[dict[str, str]]:
    """The recorded attempts to reach a host other than this machine (a UNIX socket path is local)."""
    return [
        e
        for e in audit_events(log)
        if e["event"] != "start"
        and e["host"] not in LOCAL_HOSTS
        and not e["host"].startswith(("127.", "/"))
        and "\x00" not in e["host"]
    ]


@functools.cache
def can_close_the_network() -> bool:
    """True where ``unshare -n`` may run a command in an empty network namespace."""
    try:
        probe = subprocess.run(["unshare", "-n", "true"], check=False, capture_output=True, timeout=30)
        return probe.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def offline(command: list[str]) -> list[str]:
    """``command`` in an empty network namespace where that is allowed, else as it is."""
    return ["unshare", "-n", *command] if can_close_the_network() else list(command)
