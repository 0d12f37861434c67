"""Waiting for a state of the system under test: polled, bounded by a generous deadline, never
timed (CI may run on a busy machine)."""

import time
from collections.abc import Callable

__all__ = ["DEADLINE_SECONDS", "wait_for"]

DEADLINE_SECONDS = 240.0


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    """Until `condition()` is true; fails naming `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}"
        time.sleep(0.05)
