"""Waiting for a condition in drills, the demo and tests: poll, then give up after a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable

from streamdr.errors import StateError

LOGS_HINT = "See the drill's logs (path in the step detail)."


def poll_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate`` every ``interval`` s until true or ``timeout``; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, *, hint: str = LOGS_HINT
) -> None:
    """Poll ``predicate`` until true; raises StateError naming ``what`` on timeout."""
    if not poll_until(predicate, timeout):
        raise StateError(f"timed out after {timeout:.0f}s waiting for {what}", hint=hint)
