"""The delivery backoff schedule: exponential (1, 2, 4 … seconds, capped) with jitter.

Pure, so the schedule is unit-tested; the worker sleeps on its stop event with these delays so
a shutdown never waits out a long backoff. (CDC source reconnects use stamina directly.)
"""

from __future__ import annotations

import random
from collections.abc import Callable

JITTER = 0.2  # ±10% around the nominal delay: spreads retries of many workers apart


def backoff_delay(
    attempt: int, initial: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Return the wait after failed attempt ``attempt`` (1-based): ~initial·2^(attempt-1), capped.

    Raises ValueError for an attempt below 1.
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    nominal = min(cap, initial * 2 ** min(attempt - 1, 62))
    return nominal * (1 - JITTER / 2 + JITTER * rand())


def schedule(attempts: int, initial: float, cap: float) -> list[float]:
    """Return the nominal waits (no jitter) between ``attempts`` tries."""
    return [backoff_delay(n, initial, cap, rand=lambda: 0.5) for n in range(1, attempts)]
