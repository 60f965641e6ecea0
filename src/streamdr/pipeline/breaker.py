"""The circuit breaker in front of a sink (pybreaker), with the state the worker reports.

Only failures that say the endpoint is unwell (connection errors, timeouts, 5xx, 429) count
towards opening it; a rejected record (4xx) is that record's problem, not the endpoint's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker

T = TypeVar("T")

CLOSED, HALF_OPEN, OPEN = "closed", "half-open", "open"


class BreakerOpen(Exception):
    """The breaker is open: the call was not made."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"circuit breaker open; next trial in {retry_in:.1f}s")
        self.retry_in = retry_in


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, on_change: Callable[[str], None]) -> None:
        self.on_change = on_change

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        self.on_change(new_state.name)


class Breaker:
    """Opens after ``failure_threshold`` consecutive endpoint failures for ``reset_timeout`` s."""

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout: float,
        *,
        counts: Callable[[BaseException], bool],
        on_change: Callable[[str], None] | None = None,
        name: str | None = None,
    ) -> None:
        self._cb = pybreaker.CircuitBreaker(
            fail_max=failure_threshold,
            reset_timeout=reset_timeout,
            exclude=[lambda exc: not counts(exc)],
            listeners=[_Listener(on_change)] if on_change else [],
            name=name,
            throw_new_error_on_trip=False,
        )

    @property
    def state(self) -> str:
        """Return ``closed``, ``half-open`` or ``open``."""
        return str(self._cb.current_state)

    @property
    def failures(self) -> int:
        """Return the count of consecutive counted failures."""
        return int(self._cb.fail_counter)

    def retry_in(self) -> float:
        """Return seconds until an open breaker lets a trial call through (0 otherwise)."""
        opened_at = self._cb._state_storage.opened_at  # pybreaker keeps no public accessor
        if self.state != OPEN or opened_at is None:
            return 0.0
        elapsed = (datetime.now(UTC) - opened_at).total_seconds()
        return max(0.0, self._cb.reset_timeout - elapsed)

    def call(self, func: Callable[[], T]) -> T:
        """Return ``func()`` through the breaker.

        Raises BreakerOpen without calling when open, else whatever ``func`` raises.
        """
        if self.state == CLOSED:
            return self._call_closed(func)
        try:
            return self._cb.call(func)
        except pybreaker.CircuitBreakerError as exc:
            raise BreakerOpen(self.retry_in()) from exc

    def _call_closed(self, func: Callable[[], T]) -> T:
        # pybreaker holds its lock for the whole call, which would serialise every delivery of
        # a worker; while closed, calls run concurrently and only the verdict is recorded under
        # the lock. Open and half-open keep pybreaker's serialised path (one trial at a time).
        try:
            result = func()
        except BaseException as exc:
            with self._cb._lock:
                self._cb.state._handle_error(exc, reraise=False)
            raise
        if self._cb.fail_counter == 0 and self._cb.current_state == pybreaker.STATE_CLOSED:
            # A closed breaker's success only resets the failure count, already 0: skip the
            # lock, which every delivery thread of a worker would otherwise queue on (py-spy).
            return result
        with self._cb._lock:
            self._cb.state._handle_success()
        return result


def wait_for_trial(breaker: Breaker, sleep: Callable[[float], bool]) -> bool:
    """Wait until ``breaker`` allows a trial; ``sleep(s)`` returns False to abort (shutdown)."""
    while breaker.state == OPEN and (delay := breaker.retry_in()) > 0:
        if not sleep(min(delay, 1.0)):
            return False
    return True
