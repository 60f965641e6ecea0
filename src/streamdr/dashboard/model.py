"""DR readiness at one moment, as plain data, and the pure verdicts over it.

:mod:`.gather` reads these facts from the metadata DB, the object stores, the sites and the MM2
supervisor's ``lag.json``; everything here is pure so that verdicts and alerts are unit-tested
with fixed facts and a fixed clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from streamdr.observe.alerts import REQUIRED_DRILLS, AlertThresholds


class Verdict(StrEnum):
    """Readiness of one tier; ordered best to worst."""

    READY = "ready"
    AT_RISK = "at risk"
    NOT_READY = "not ready"


VERDICT_VALUE = {Verdict.READY: 1.0, Verdict.AT_RISK: 0.5, Verdict.NOT_READY: 0.0}
TIERS = ("critical", "standard", "non-critical")
BACKUP_KINDS = ("topics", "config_repository", "metadata_db")
SITE_DRILLS = ("site-failover", "site-failover-active-active", "site-failover-automatic")


@dataclass(frozen=True)
class TopicLag:
    """Replication lag of one topic: the worst partition's seconds, the sum of messages."""

    topic: str
    tier: str
    flow: str
    seconds: float | None
    messages: int


@dataclass(frozen=True)
class SiteHealth:
    """Whether a site's Kafka cluster answered, and its role."""

    site: str
    role: str  # active | standby
    up: bool
    detail: str


@dataclass(frozen=True)
class BackupAge:
    """The newest successful backup of one kind (None: none found, or not configured)."""

    kind: str
    last_at: datetime | None
    detail: str
    configured: bool = True  # False: nothing is set up to back this kind up (unknown, not old)


@dataclass(frozen=True)
class DrillRun:
    """One stored drill run: when it finished, whether it passed, its RTO and RPO."""

    scenario: str
    finished_at: datetime
    passed: bool
    rto_seconds: float | None
    rpo_seconds: float | None
    target_rto_seconds: float | None = None
    target_rpo_seconds: float | None = None


@dataclass(frozen=True)
class FailoverState:
    """The active site, and the platform's failover run that is unresolved (if any)."""

    active_site: str
    home_site: str
    in_progress: dict[str, Any] | None = None
    history: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Readiness:
    """Every fact the dashboard, the metrics and the status pages show."""

    at: datetime
    sites: tuple[SiteHealth, ...]
    topics: tuple[TopicLag, ...]
    backups: tuple[BackupAge, ...]
    drills: tuple[DrillRun, ...]  # newest first, every scenario
    failover: FailoverState
    lag_sampled_at: datetime | None
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    clients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # client → tiers

    def backup_age(self, kind: str) -> float | None:
        """Return the age in seconds of the newest ``kind`` backup, or None."""
        b = next((b for b in self.backups if b.kind == kind), None)
        return None if b is None or b.last_at is None else (self.at - b.last_at).total_seconds()

    def last_runs(self) -> list[DrillRun]:
        """Return the newest run of each scenario, by scenario name."""
        newest: dict[str, DrillRun] = {}
        for run in self.drills:
            if run.scenario not in newest or run.finished_at > newest[run.scenario].finished_at:
                newest[run.scenario] = run
        return [newest[k] for k in sorted(newest)]

    def last_passed(self, scenarios: Iterable[str]) -> datetime | None:
        """Return when any of ``scenarios`` last passed, or None."""
        wanted = set(scenarios)
        return max(
            (r.finished_at for r in self.drills if r.passed and r.scenario in wanted), default=None
        )

    def lag_sample_age(self) -> float | None:
        """Return the age of the newest lag sample in seconds, or None when there is none."""
        return (
            None if self.lag_sampled_at is None else (self.at - self.lag_sampled_at).total_seconds()
        )


@dataclass(frozen=True)
class TierVerdict:
    """A tier's verdict and the reasons it is not ready."""

    tier: str
    verdict: Verdict
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the verdict as JSON-ready data."""
        return {**asdict(self), "verdict": str(self.verdict)}


def _worse(a: Verdict, b: Verdict) -> Verdict:
    order = list(Verdict)
    return a if order.index(a) >= order.index(b) else b


def tier_verdict(r: Readiness, tier: str) -> TierVerdict:
    """Return whether ``tier`` could be recovered now within its targets, with the reasons."""
    found: list[tuple[Verdict, str]] = []
    if tier == "non-critical":
        found += _backup_reasons(r, ("topics",))
    else:
        found += _replication_reasons(r, tier)
        found += _drill_reasons(r, SITE_DRILLS)
    verdict = Verdict.READY
    for v, _ in found:
        verdict = _worse(verdict, v)
    return TierVerdict(tier, verdict, tuple(text for _, text in found))


def _replication_reasons(r: Readiness, tier: str) -> list[tuple[Verdict, str]]:
    t = r.thresholds
    out = [(Verdict.NOT_READY, f"site {s.site} is down") for s in r.sites if not s.up]
    for lag in (x for x in r.topics if x.tier == tier):
        if lag.seconds is None and lag.messages:
            out.append((Verdict.AT_RISK, f"{lag.topic}: lag unknown"))
        elif lag.seconds is not None and lag.seconds >= t.lag_critical_seconds:
            out.append((Verdict.NOT_READY, f"{lag.topic}: {lag.seconds:.0f}s behind"))
        elif lag.seconds is not None and lag.seconds >= t.lag_warning_seconds:
            out.append((Verdict.AT_RISK, f"{lag.topic}: {lag.seconds:.0f}s behind"))
    age = r.lag_sample_age()
    if any(x.tier == tier for x in r.topics) and (
        age is None or age > t.lag_sample_max_age_seconds
    ):
        out.append((Verdict.AT_RISK, "lag samples are stale: is the MM2 supervisor running?"))
    return out


def _backup_reasons(r: Readiness, kinds: Sequence[str]) -> list[tuple[Verdict, str]]:
    out = []
    for kind in kinds:
        age = r.backup_age(kind)
        if age is None:
            out.append((Verdict.NOT_READY, f"no {kind} backup"))
        elif age > r.thresholds.backup_max_age_seconds:
            out.append((Verdict.NOT_READY, f"newest {kind} backup is {age / 3600:.0f} h old"))
    return out


def _drill_reasons(r: Readiness, scenarios: Sequence[str]) -> list[tuple[Verdict, str]]:
    last = r.last_passed(scenarios)
    if last is None:
        return [(Verdict.AT_RISK, f"no {' or '.join(scenarios)} drill passed yet")]
    days = (r.at - last).total_seconds() / 86400
    if days > r.thresholds.drill_max_age_days:
        return [(Verdict.AT_RISK, f"last site failover drill passed {days:.0f} days ago")]
    return []


def verdicts(r: Readiness) -> list[TierVerdict]:
    """Return the verdict of every tier."""
    return [tier_verdict(r, t) for t in TIERS]


def drill_trends(r: Readiness) -> dict[str, list[dict[str, Any]]]:
    """Return, per scenario, its runs oldest first: time, RTO, RPO, passed (for the charts)."""
    trends: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(r.drills, key=lambda x: x.finished_at):
        trends.setdefault(run.scenario, []).append(
            {
                "at": run.finished_at.isoformat(),
                "rto_seconds": run.rto_seconds,
                "rpo_seconds": run.rpo_seconds,
                "passed": run.passed,
                "target_rto_seconds": run.target_rto_seconds,
                "target_rpo_seconds": run.target_rpo_seconds,
            }
        )
    return trends


@dataclass(frozen=True)
class ActiveAlert:
    """An alert of :mod:`streamdr.observe.alerts` that the facts make fire now."""

    name: str
    severity: str
    subject: str
    detail: str


def active_alerts(r: Readiness) -> list[ActiveAlert]:
    """Return the readiness alerts firing now, judged with the alert rules' thresholds."""
    return (
        _lag_alerts(r)
        + [
            ActiveAlert("StreamdrDrClusterUnavailable", "critical", s.site, s.detail)
            for s in r.sites
            if not s.up and s.role == "standby"
        ]
        + _backup_alerts(r)
        + _drill_alerts(r)
        + _failover_alerts(r)
    )


def _lag_alerts(r: Readiness) -> list[ActiveAlert]:
    t, out = r.thresholds, []
    for lag in r.topics:
        if lag.seconds is None:
            continue
        subject, detail = f"{lag.topic} ({lag.tier})", f"{lag.seconds:.0f}s behind via {lag.flow}"
        if lag.seconds > t.lag_critical_seconds:
            out.append(ActiveAlert("StreamdrReplicationLagCritical", "critical", subject, detail))
        elif lag.seconds > t.lag_warning_seconds:
            out.append(ActiveAlert("StreamdrReplicationLagWarning", "warning", subject, detail))
    age = r.lag_sample_age()
    if r.topics and age is not None and age > t.lag_sample_max_age_seconds:
        out.append(ActiveAlert("StreamdrLagSamplesStale", "warning", "lag.json", f"{age:.0f}s old"))
    return out


def _backup_alerts(r: Readiness) -> list[ActiveAlert]:
    limits = {
        "topics": r.thresholds.backup_max_age_seconds,
        "config_repository": r.thresholds.config_backup_max_age_seconds,
        "metadata_db": r.thresholds.metadata_db_backup_max_age_seconds,
    }
    out = []
    for b in r.backups:
        age, limit = r.backup_age(b.kind), limits.get(b.kind, r.thresholds.backup_max_age_seconds)
        if not b.configured:
            out.append(ActiveAlert("StreamdrBackupNotConfigured", "warning", b.kind, b.detail))
        elif age is None:
            out.append(ActiveAlert("StreamdrBackupMissing", "critical", b.kind, b.detail))
        elif age > limit:
            detail = f"newest backup {age / 3600:.1f} h old"
            out.append(ActiveAlert("StreamdrBackupStale", "warning", b.kind, detail))
    return out


def never_run_drills(r: Readiness) -> list[str]:
    """Return the drills of the strategy's table none of whose scenarios has a recorded run."""
    ran = {run.scenario for run in r.drills}
    return [req.drill for req in REQUIRED_DRILLS if not ran.intersection(req.scenarios)]


def _drill_alerts(r: Readiness) -> list[ActiveAlert]:
    out = [
        ActiveAlert("StreamdrDrillNeverRun", "warning", drill, "no recorded run")
        for drill in never_run_drills(r)
    ]
    for run in r.last_runs():
        days = (r.at - run.finished_at).total_seconds() / 86400
        if days > r.thresholds.drill_max_age_days:
            detail = f"last ran {days:.0f} days ago"
            out.append(ActiveAlert("StreamdrDrillOverdue", "warning", run.scenario, detail))
        for what, got, target in (
            ("RTO", run.rto_seconds, run.target_rto_seconds),
            ("RPO", run.rpo_seconds, run.target_rpo_seconds),
        ):
            if got is not None and target is not None and got > target:
                name = f"StreamdrDrill{what.capitalize()}AboveTarget"
                detail = f"{what} {got:.1f}s > target {target:.0f}s"
                out.append(ActiveAlert(name, "warning", run.scenario, detail))
    return out


def _failover_alerts(r: Readiness) -> list[ActiveAlert]:
    run = r.failover.in_progress
    if run is None:
        return []
    detail = f"{run.get('kind')} {run.get('from_site')} → {run.get('to_site')}: {run.get('status')}"
    return [ActiveAlert("StreamdrFailoverInProgress", "warning", "platform", detail)]


@dataclass(frozen=True)
class ClientStatus:
    """What one client's public status page says: its state, CSS class and serving sites."""

    state: str
    css: str
    sites: tuple[str, ...]
    failover: dict[str, Any] | None = None  # the unresolved failover run that affects it


def serving_sites(r: Readiness, tiers: Iterable[str]) -> tuple[str, ...]:
    """Return the sites that serve workflows of ``tiers``, in the settings' order.

    Critical workflows run active-active on every site; the others on the active site only.
    """
    wanted = set(tiers)
    everywhere = "critical" in wanted
    on_active = bool(wanted - {"critical"})
    return tuple(
        s.site for s in r.sites if everywhere or (on_active and s.site == r.failover.active_site)
    )


def client_status(r: Readiness, client: str) -> ClientStatus:
    """Return the public state of ``client``: only its own workflows' sites and failovers count.

    A client with only critical (active-active) workflows is degraded, not down, when one site
    is lost, and a platform failover does not interrupt it; others follow the active site.
    """
    tiers = r.clients.get(client, ())
    sites = serving_sites(r, tiers)
    up = {s.site for s in r.sites if s.up}
    follows_active = any(t != "critical" for t in tiers)
    if sites and not up.intersection(sites):
        return ClientStatus("outage", "not-ready", sites)
    if follows_active and r.failover.in_progress is not None:
        return ClientStatus("failover in progress", "at-risk", sites, r.failover.in_progress)
    down = [s for s in sites if s not in up]
    if down:
        return ClientStatus(f"degraded (site {', '.join(down)} is down)", "at-risk", sites)
    if follows_active and r.failover.active_site != r.failover.home_site:
        return ClientStatus("operational (running on the disaster recovery site)", "at-risk", sites)
    return ClientStatus("operational", "ready", sites)
