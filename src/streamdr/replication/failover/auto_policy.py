"""Automatic failover: the pure decision from observers' probes of the active site.

Each observer probes the active site from its own vantage point and reports up or down. The
site is judged down only when at least ``require_observers`` observers have *each* seen it down
continuously for ``detect_after`` seconds, with reports fresh enough to count (an observer that
stopped reporting has no vote). One observer cut off from the site is a partition of that
observer, not a site loss: it never triggers a failover on its own.

An observer may also report *unknown* (``up is None``): it could not look (a remote observer
that does not answer, a garbled answer, a missing credential). Unknown is never down: an
observer whose latest report is unknown has no vote, and an unknown report ends its run of
downs, so losing the observers can never fail a site over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from streamdr.settings.failover import AutomaticFailover

Action = Literal["disabled", "healthy", "suspect", "cooling_down", "failover", "page"]


@dataclass(frozen=True)
class Observation:
    """One probe of ``site`` by ``observer`` at ``at`` (epoch seconds): up, down or unknown."""

    observer: str
    site: str
    at: float
    up: bool | None  # None: the observer could not tell (never counts as down)

    @property
    def down(self) -> bool:
        """Return True only for a report that the site is down (unknown is not down)."""
        return self.up is False

    @property
    def seen(self) -> str:
        """Return ``up``, ``DOWN`` or ``unknown``, as the watch prints it."""
        return "unknown" if self.up is None else "up" if self.up else "DOWN"


@dataclass(frozen=True)
class Decision:
    """What to do now, why, and since when a quorum of observers sees the site down."""

    action: Action
    reason: str
    down_since: float | None = None
    observers_down: tuple[str, ...] = ()


def down_since(
    observations: Iterable[Observation], site: str, now: float, fresh: float
) -> dict[str, float]:
    """Return observer -> start of its current run of "down" reports of ``site``.

    Only observers whose latest report is down and no older than ``fresh`` seconds count; an
    up or unknown report ends a run.
    """
    by_observer: dict[str, list[Observation]] = {}
    for obs in observations:
        if obs.site == site and obs.at <= now:
            by_observer.setdefault(obs.observer, []).append(obs)
    out: dict[str, float] = {}
    for name, seen in by_observer.items():
        seen.sort(key=lambda o: o.at)
        if not seen[-1].down or now - seen[-1].at > fresh:
            continue
        start = seen[-1].at
        for obs in reversed(seen):
            if not obs.down:
                break
            start = obs.at
        out[name] = start
    return out


def decide(
    policy: AutomaticFailover,
    observations: Iterable[Observation],
    active: str,
    now: float,
    last_failover_at: float | None = None,
    fresh: float | None = None,
) -> Decision:
    """Return what the automatic policy does about ``active`` at ``now``.

    ``fresh`` (default ``detect_after``, at least 5 s) is how old an observer's latest report
    may be and still vote. ``failover`` (or ``page`` in approval mode) needs a quorum of
    observers each continuously down for ``detect_after`` seconds and no failover within
    ``cool_down`` seconds.
    """
    if not policy.enabled:
        return Decision("disabled", "failover.automatic.enabled is false")
    window = fresh if fresh is not None else max(policy.detect_after, 5.0)
    since = down_since(observations, active, now, window)
    need = policy.require_observers
    if len(since) < need:
        if not since:
            return Decision("healthy", f"no observer sees {active} down")
        return Decision(
            "suspect",
            f"{len(since)} of the {need} required observers see {active} down",
            observers_down=tuple(sorted(since)),
        )
    # The quorum has held since the need-th earliest observer went down.
    quorum_since = sorted(since.values())[need - 1]
    downs = tuple(sorted(since))
    if now - quorum_since < policy.detect_after:
        return Decision(
            "suspect",
            f"{len(since)} observers see {active} down for {now - quorum_since:.1f}s "
            f"(< {policy.detect_after:g}s)",
            quorum_since,
            downs,
        )
    if last_failover_at is not None and now - last_failover_at < policy.cool_down:
        return Decision(
            "cooling_down",
            f"last failover {now - last_failover_at:.0f}s ago (cool-down {policy.cool_down:g}s)",
            quorum_since,
            downs,
        )
    action: Action = "page" if policy.mode == "approval" else "failover"
    return Decision(
        action,
        f"{len(since)} observers see {active} down for {now - quorum_since:.1f}s",
        quorum_since,
        downs,
    )


def choose_target(policy: AutomaticFailover, sites: Iterable[str], active: str) -> str | None:
    """Return the site to fail over to: the configured one, else the first other site."""
    if policy.target_site is not None:
        return policy.target_site if policy.target_site != active else None
    return next((s for s in sites if s != active), None)
