"""One step recorder: a named, timed unit of work with its outcome.

Drills, configuration operations, failover runs and restores all record their work as steps;
``record_step`` times a block, marks the step failed when the block raises (and re-raises), and
hands the finished step to a callback that may persist or print it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from streamdr.clock import iso, utcnow


@dataclass
class Step:
    """One step with its outcome; ``finished_at`` is None while it runs."""

    name: str
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    ok: bool = True
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        """Return how long the step took (rounded to ms), or None while it runs."""
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def as_dict(self) -> dict[str, Any]:
        """Return the step as a JSON-ready mapping."""
        return {
            "name": self.name,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "ok": self.ok,
            "detail": self.detail,
        }


S = TypeVar("S", bound=Step)


def describe_error(exc: BaseException) -> str:
    """Return the default detail of a failed step: the exception's type and text."""
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def record_step(
    steps: list[S],
    name: str,
    on_done: Callable[[S], None] | None = None,
    *,
    start: Callable[[str], S] = Step,  # type: ignore[assignment]
    describe: Callable[[BaseException], str] = describe_error,
) -> Iterator[S]:
    """Append the step ``start(name)`` to ``steps`` and time the block around it.

    Yields the step (its ``detail`` may be set inside). An exception marks it failed, keeps a
    detail already set (else ``describe(exc)``), and propagates. ``on_done`` sees the finished
    step, failed or not. Returns nothing; raises whatever the block raises.
    """
    step = start(name)
    steps.append(step)
    try:
        yield step
    except BaseException as exc:
        step.ok = False
        step.detail = step.detail or describe(exc)
        raise
    finally:
        step.finished_at = utcnow()
        if on_done:
            on_done(step)
