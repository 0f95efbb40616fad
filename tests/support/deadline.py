"""``deadline(seconds)``: a hard time limit on a block of a test (SIGALRM; the main thread, POSIX), so a fault
test that would hang fails instead, with the block's name."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def deadline(seconds: int, what: str) -> Iterator[None]:
    """Raise ``TimeoutError`` naming ``what`` if the block runs longer than ``seconds``."""

    def expire(_signum, _frame):
        raise TimeoutError(f"{what} ran past its {seconds} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
