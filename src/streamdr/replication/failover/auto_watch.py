"""The automatic failover loop: observe the active site, decide (``auto_policy``), act.

Observers are probes given by the caller (``failover.observers`` built by ``observers.py``, or
on the lab probes over independent network paths, see ``lab/observers.py``); a probe answers
up, down or None (unknown, never a vote for down); acting is the existing plan/execute path,
passed in as ``switch``. In approval mode the loop pages through the signed notify webhook and
waits for ``approval`` to answer True (go), False (refused) or None (still waiting).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamdr.errors import StreamdrError, UnreachableError
from streamdr.replication.failover.auto_policy import (
    Decision,
    Observation,
    choose_target,
    decide,
)
from streamdr.settings.failover import AutomaticFailover

Probe = Callable[[str], bool | None]  # site -> up? (None: the observer cannot tell)
# What ``follow`` reports each round: the round's observations and the decision.
Report = Callable[[list[Observation], Decision], None]
MAX_KEPT = 10_000  # observations kept (the decision looks at recent runs only)


@dataclass
class WatchResult:
    """How a watch ended: the final decision, the switch's result and when it all happened."""

    decision: Decision
    target: str | None = None
    switched: dict[str, Any] | None = None
    decided_at: float | None = None
    paged: str | None = None
    approved: bool | None = None
    decisions: list[Decision] = field(default_factory=list)


@dataclass
class AutoFailover:
    """Observes ``active`` with ``observers`` every ``interval`` seconds and acts on a quorum."""

    policy: AutomaticFailover
    observers: Mapping[str, Probe]
    sites: tuple[str, ...]
    active: str
    switch: Callable[[str], dict[str, Any]]
    page: Callable[[dict[str, Any]], str] | None = None
    approval: Callable[[], bool | None] | None = None
    interval: float = 1.0
    last_failover_at: float | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    observations: list[Observation] = field(default_factory=list)

    def observe(self) -> None:
        """Probe the active site once with every observer.

        A probe raising UnreachableError saw the site down; any other StreamdrError (a missing
        credential, a refused login) means the observer could not tell: unknown, never down.
        """
        for name, probe in self.observers.items():
            up: bool | None
            try:
                answer = probe(self.active)
                up = None if answer is None else bool(answer)
            except UnreachableError:
                up = False
            except StreamdrError:
                up = None
            self.observations.append(Observation(name, self.active, self.clock(), up))
        del self.observations[:-MAX_KEPT]

    def step(self) -> Decision:
        """Observe once and return the policy's decision."""
        self.observe()
        return decide(
            self.policy, self.observations, self.active, self.clock(), self.last_failover_at
        )

    def watch(self, timeout: float) -> WatchResult:
        """Observe until the policy fails over (or pages and is answered), or ``timeout`` s.

        Returns the result; the switch's own errors (StreamdrError) propagate.
        """
        deadline = self.clock() + timeout
        history: list[Decision] = []
        while True:
            decision = self.step()
            history.append(decision)
            if decision.action in ("failover", "page"):
                return self._act(decision, history)
            if decision.action == "disabled" or self.clock() >= deadline:
                return WatchResult(decision, decisions=history)
            self.sleep(self.interval)

    def follow(
        self,
        report: Report,
        on_result: Callable[[WatchResult], bool],
        *,
        act: bool = True,
        rounds: int | None = None,
    ) -> None:
        """Observe, decide and report every ``interval`` s, for ``rounds`` rounds (None: forever).

        With ``act`` a failover decision runs ``switch`` (a ``page`` decision pages and waits
        for approval first) and ``on_result`` sees the outcome (returning False ends the
        watch); a passed switch makes the target the watched site. Without ``act`` (or with
        the policy disabled) the decision is the one the policy would take if enabled,
        reported and never acted on. The switch's own errors (StreamdrError) propagate.
        """
        done = 0
        while rounds is None or done < rounds:
            decision = self._follow_step(act)
            report(self.observations[-len(self.observers) :], decision)
            if act and self.policy.enabled and decision.action in ("failover", "page"):
                result = self._act(decision, [decision])
                if not on_result(result):
                    return
                if result.switched and result.switched.get("passed") and result.target:
                    self.active = result.target
            done += 1
            if rounds is None or done < rounds:
                self.sleep(self.interval)

    def _follow_step(self, act: bool) -> Decision:
        if act and self.policy.enabled:
            return self.step()
        # Report what an enabled policy would decide: a dry watch shows its worth first.
        self.observe()
        shadow = self.policy.model_copy(update={"enabled": True})
        return decide(shadow, self.observations, self.active, self.clock(), self.last_failover_at)

    def _act(self, decision: Decision, history: list[Decision]) -> WatchResult:
        target = choose_target(self.policy, self.sites, self.active)
        result = WatchResult(decision, target, decided_at=self.clock(), decisions=history)
        if target is None:
            return result
        if decision.action == "page":
            result.paged = self._page(decision, target)
            result.approved = self._wait_approval()
            if not result.approved:
                return result
        result.switched = self.switch(target)
        self.last_failover_at = self.clock()
        return result

    def _page(self, decision: Decision, target: str) -> str:
        doc = {
            "event": "failover-approval-needed",
            "site": self.active,
            "target": target,
            "reason": decision.reason,
            "observers_down": list(decision.observers_down),
            "down_since": decision.down_since,
        }
        return self.page(doc) if self.page is not None else "no pager configured"

    def _wait_approval(self) -> bool:
        deadline = self.clock() + self.policy.approval_timeout
        while self.approval is not None and self.clock() < deadline:
            answer = self.approval()
            if answer is not None:
                return answer
            self.sleep(self.interval)
        return False
