"""A drill's report: steps with timestamps, figures, targets and the verdict."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamdr.policy.tiers import Targets


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """Return ``ts`` as ISO 8601 with milliseconds, or None."""
    return ts.isoformat(timespec="milliseconds") if ts else None


@dataclass
class Step:
    """One step of a drill, with its outcome."""

    name: str
    started_at: datetime
    finished_at: datetime | None = None
    ok: bool = True
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the step as a JSON-ready mapping."""
        return {
            "name": self.name,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "ok": self.ok,
            "detail": self.detail,
        }


@dataclass
class DrillReport:
    """Everything a drill measured; ``figures`` holds the scenario's own keys."""

    scenario: str
    site: str | None
    targets: Targets
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    passed: bool = False
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    steps: list[Step] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    on_step: Callable[[Step], None] | None = field(default=None, repr=False)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Record a step around a block; an exception marks it failed and propagates."""
        st = Step(name, utcnow())
        self.steps.append(st)
        try:
            yield st
        except BaseException as exc:
            st.ok = False
            st.detail = st.detail or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            st.finished_at = utcnow()
            if self.on_step:
                self.on_step(st)

    def judge(self, checks: dict[str, bool]) -> None:
        """Set ``passed`` from named criteria; failed ones are listed in ``failures``."""
        self.failures += [name for name, ok in checks.items() if not ok]
        self.passed = not self.failures

    def as_dict(self) -> dict[str, Any]:
        """Return the report as one JSON-ready mapping (figures at top level)."""
        return {
            "scenario": self.scenario,
            "site": self.site,
            "passed": self.passed,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "rto_seconds": self.rto_seconds,
            "rpo_seconds": self.rpo_seconds,
            **self.figures,
            "targets": self.targets.as_dict(),
            "failures": self.failures,
            "steps": [s.as_dict() for s in self.steps],
        }
