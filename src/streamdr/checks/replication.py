"""Appendix A's replication items: "MirrorMaker 2 replicating to DR cluster" and "Monitoring
alerts for replication lag > 1 minute" — pure verdicts over a :class:`ReplicationSnapshot`, and
the gatherer that reads one from the live system."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from streamdr.checks.site import CheckResult, _result
from streamdr.errors import StreamdrError
from streamdr.policy.tiers import Tier
from streamdr.replication.lag.monitor import measure_lag
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.service import deployed_sets
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore

APPENDIX_A_LAG_ALERT_S = 60.0


@dataclass(frozen=True)
class FlowHealth:
    """One replication flow into a standby site, as observed."""

    flow: str
    target: str
    jvm_running: bool
    heartbeat_age_seconds: float | None
    error: str | None = None


@dataclass(frozen=True)
class ReplicationSnapshot:
    """What the replication items need, read at one moment."""

    required: bool  # some standard or critical workflow must be replicated
    configured: bool  # `replicate start` ran (a topology exists)
    standby_sites: tuple[str, ...] = ()
    flows: tuple[FlowHealth, ...] = ()
    alert_threshold_seconds: float = APPENDIX_A_LAG_ALERT_S
    lagging: tuple[str, ...] = ()  # partitions whose seconds behind exceed the threshold
    error: str | None = None


def check_mm2_replicating(snap: ReplicationSnapshot) -> CheckResult:
    """MM2 runs into every standby site and its replicated heartbeats are fresh."""
    desc = "MirrorMaker 2 replicating to DR cluster"
    if not snap.required and not snap.configured:
        return _result("replication.mm2-to-dr", desc, "*", [], "nothing to replicate")
    if not snap.configured:
        return _result(
            "replication.mm2-to-dr", desc, "*", ["not started"], "run `streamdr replicate start`"
        )
    offenders = [f"{s}: no flow" for s in snap.standby_sites if s not in _targets(snap.flows)]
    for f in snap.flows:
        if not f.jvm_running:
            offenders.append(f"{f.flow}: MM2 not running")
        elif f.heartbeat_age_seconds is None or f.heartbeat_age_seconds > (
            snap.alert_threshold_seconds
        ):
            offenders.append(f"{f.flow}: heartbeat age {f.heartbeat_age_seconds}s")
    detail = snap.error or f"{len(snap.flows)} flows"
    return _result("replication.mm2-to-dr", desc, "*", offenders, detail)


def _targets(flows: Sequence[FlowHealth]) -> set[str]:
    return {f.target for f in flows}


def check_lag_alert(snap: ReplicationSnapshot) -> CheckResult:
    """An alert fires above 1 minute of lag, and no replicated partition is past it now."""
    desc = "Alerts for replication lag > 1 minute"
    offenders: list[str] = []
    if snap.alert_threshold_seconds > APPENDIX_A_LAG_ALERT_S:
        offenders.append(
            f"replication.lag_alert_seconds is {snap.alert_threshold_seconds:.0f}s (> 60s)"
        )
    offenders += list(snap.lagging)
    detail = f"alert at {snap.alert_threshold_seconds:.0f}s of lag"
    return _result("replication.lag-alert", desc, "*", offenders, detail)


def evaluate_replication(snap: ReplicationSnapshot) -> list[CheckResult]:
    """Return both replication items."""
    return [check_mm2_replicating(snap), check_lag_alert(snap)]


@dataclass
class _Gathered:
    flows: list[FlowHealth] = field(default_factory=list)
    lagging: list[str] = field(default_factory=list)
    error: str | None = None


def gather_replication(settings: Settings, store: MetadataStore) -> ReplicationSnapshot:
    """Return the snapshot of the default MM2 instance for ``settings``."""
    rep = settings.replication
    runner = Mm2Runner(settings)
    topology = runner.topology()
    required = any(s.tier is not Tier.NON_CRITICAL for s in deployed_sets(settings, store))
    if topology is None:
        return ReplicationSnapshot(required, False, alert_threshold_seconds=rep.lag_alert_seconds)
    status = runner.status()
    got = _Gathered()
    try:
        report = measure_lag(settings, topology)
        ages = {f.flow: (f.heartbeat_age_seconds, f.error) for f in report.flows}
        got.lagging = [
            f"{p.topic}-{p.partition} ({p.seconds_behind}s)"
            for p in report.partitions
            if p.seconds_behind is not None and p.seconds_behind > rep.lag_alert_seconds
        ]
    except StreamdrError as exc:
        ages, got.error = {}, exc.message
    for f in topology.flows:
        age, err = ages.get(f.name, (None, got.error))
        got.flows.append(FlowHealth(f.name, f.target, status.target_running(f.target), age, err))
    standby = tuple(s for s in topology.sites if s != topology.active)
    return ReplicationSnapshot(
        required,
        True,
        standby,
        tuple(got.flows),
        rep.lag_alert_seconds,
        tuple(got.lagging),
        got.error,
    )
