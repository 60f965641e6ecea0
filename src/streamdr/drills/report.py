"""A drill's report: steps with timestamps, figures, targets and the verdict."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamdr.clock import iso, utcnow
from streamdr.policy.tiers import Targets
from streamdr.steps import Step, record_step


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
    # per-event or batched, for the drills that run a workflow; None for the others.
    delivery_mode: str | None = None
    # The last error a step raised, kept so the failure note can give its hint: a step's detail
    # says only "StateError: …", and drills close their rig without the error in hand.
    step_error: BaseException | None = field(default=None, repr=False)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Record a step around a block; an exception marks it failed, is kept in
        ``step_error`` and propagates."""
        try:
            with record_step(self.steps, name, self.on_step) as st:
                yield st
        except Exception as exc:
            self.step_error = exc
            raise

    def judge(self, checks: dict[str, bool]) -> None:
        """Set ``passed`` from named criteria; failed ones are listed in ``failures``."""
        self.failures += [name for name, ok in checks.items() if not ok]
        self.passed = not self.failures

    def as_dict(self) -> dict[str, Any]:
        """Return the report as one JSON-ready mapping (figures at top level)."""
        return {
            "scenario": self.scenario,
            "site": self.site,
            **({"delivery_mode": self.delivery_mode} if self.delivery_mode else {}),
            "passed": self.passed,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "rto_seconds": self.rto_seconds,
            "rpo_seconds": self.rpo_seconds,
            **self.figures,
            "targets": self.targets.as_dict(),
            "failures": self.failures,
            # Each step's duration, so a slow drill shows which phase the time went to.
            "steps": [s.as_dict() | {"seconds": s.seconds} for s in self.steps],
        }
