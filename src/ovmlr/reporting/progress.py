"""Progress bars that suit both a terminal and a log file."""

from __future__ import annotations

import sys

TERMINAL_INTERVAL_S = 0.5
LOG_INTERVAL_S = 5.0


def refresh_interval() -> float:
    """Seconds between redraws of a progress bar: 0.5 on a terminal, 5 when stderr is a log or a pipe
    (every redraw is a new line there)."""
    return TERMINAL_INTERVAL_S if sys.stderr.isatty() else LOG_INTERVAL_S
