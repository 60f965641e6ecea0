"""Reading a :class:`Readiness` from the live system with the capabilities' own readers.

Drill history (drills/history), backup runs (backup/history), config bundles
(workflows/bundles), failover runs and the active site (replication/failover), and the MM2
supervisor's ``lag.json`` (replication/lag/sampler). Nothing read here is trusted: a malformed
``lag.json`` entry is skipped, never raised.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from streamdr.backup.history import recent_runs
from streamdr.clock import utcnow
from streamdr.dashboard.model import (
    BackupAge,
    DrillRun,
    FailoverState,
    Readiness,
    SiteHealth,
    TopicLag,
)
from streamdr.drills.history import list_reports
from streamdr.errors import StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.metadb.litestream import prepare, sqlite_path
from streamdr.metadb.status import last_write_at, replica_current_at, replica_status
from streamdr.objectstore.store import open_store
from streamdr.observe.alerts import AlertThresholds
from streamdr.replication.failover.active_site import PLATFORM_SCOPE, active_site
from streamdr.replication.failover.runs import list_runs, unfinished_run
from streamdr.replication.lag.sampler import read_samples
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.topology import Topology
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.bundles import list_bundles
from streamdr.workflows.deployments import deployed_workflows

SITE_PROBE_TIMEOUT_S = 3.0
REPLICA_READ_TIMEOUT_S = 20.0  # one `litestream` read; a page must not hang on a lost bucket
DRILL_HISTORY = 500


def thresholds(settings: Settings) -> AlertThresholds:
    """Return the alert thresholds, with the replication ones from ``settings``."""
    rep = settings.replication
    return AlertThresholds(
        lag_warning_seconds=rep.lag_warning_seconds,
        lag_critical_seconds=rep.lag_critical_seconds,
        lag_alert_seconds=rep.lag_alert_seconds,
    )


def gather(
    settings: Settings, store: MetadataStore, *, now: datetime | None = None, probe: bool = True
) -> Readiness:
    """Return the readiness facts now; ``probe=False`` skips asking the sites (all shown up)."""
    runner = Mm2Runner(settings)
    failover = gather_failover(settings, store)
    topics, sampled_at = topic_lags(runner.topology(), read_samples(runner.dir))
    at = now or utcnow()
    return Readiness(
        at=at,
        sites=tuple(site_health(settings, failover.active_site, probe)),
        topics=tuple(topics),
        backups=tuple(backup_ages(settings, store, at)),
        drills=tuple(drill_runs(store)),
        failover=failover,
        lag_sampled_at=sampled_at,
        thresholds=thresholds(settings),
        clients=client_tiers(settings, store),
    )


def site_health(settings: Settings, active: str, probe: bool) -> list[SiteHealth]:
    """Return each site's role and whether its cluster answers a metadata request."""
    out = []
    for name, site in settings.sites.items():
        role = "active" if name == active else "standby"
        if not probe:
            out.append(SiteHealth(name, role, True, "not probed"))
            continue
        try:
            md = KafkaAdmin(name, site, timeout=SITE_PROBE_TIMEOUT_S).metadata()
            out.append(SiteHealth(name, role, True, f"{len(md.brokers)} brokers"))
        except StreamdrError as exc:
            out.append(SiteHealth(name, role, False, exc.message))
    return out


def _tiers_by_topic(topology: Topology | None) -> dict[str, str]:
    if topology is None:
        return {}
    return {t: str(s.tier) for s in topology.sets for t in s.topics}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def topic_lags(
    topology: Topology | None, samples: dict[str, Any]
) -> tuple[list[TopicLag], datetime | None]:
    """Return lag per (flow, topic) from ``lag.json`` and when it was last sampled.

    The worst partition's seconds and the sum of messages; entries of an unexpected shape are
    skipped (the file is written by another process and read as untrusted input).
    """
    tiers = _tiers_by_topic(topology)
    lags: dict[tuple[str, str], TopicLag] = {}
    flows = samples.get("flows") if isinstance(samples, dict) else None
    for flow, entry in (flows or {}).items() if isinstance(flows, dict) else ():
        for p in entry.get("partitions") or [] if isinstance(entry, dict) else []:
            _add_partition(lags, str(flow), p, tiers)
    updated = _number(samples.get("updated_at")) if isinstance(samples, dict) else None
    sampled = datetime.fromtimestamp(updated, UTC) if updated is not None else None
    return sorted(lags.values(), key=lambda x: (x.tier, x.topic, x.flow)), sampled


def _add_partition(
    lags: dict[tuple[str, str], TopicLag], flow: str, p: Any, tiers: dict[str, str]
) -> None:
    if not isinstance(p, dict) or not isinstance(p.get("topic"), str):
        return
    topic, seconds = p["topic"], _number(p.get("seconds_behind"))
    messages = int(_number(p.get("messages_behind")) or 0)
    old = lags.get((flow, topic))
    if old is not None:
        worst = None if old.seconds is None or seconds is None else max(old.seconds, seconds)
        seconds, messages = worst, old.messages + messages
    tier = tiers.get(topic, "unknown")
    lags[(flow, topic)] = TopicLag(topic, tier, flow, seconds, messages)


def backup_ages(settings: Settings, store: MetadataStore, now: datetime) -> list[BackupAge]:
    """Return the newest successful backup of each kind."""
    return [
        _topic_backup(settings, store),
        _config_backup(settings),
        metadata_db_backup(settings, store, now),
    ]


def _utc(ts: datetime | None) -> datetime | None:
    # SQLite drops the zone; streamdr always stores UTC.
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _topic_backup(settings: Settings, store: MetadataStore) -> BackupAge:
    runs = [r for r in recent_runs(store, limit=50) if r.get("status") == "ok"]
    newest = max((_utc(r["finished_at"]) for r in runs if r.get("finished_at")), default=None)
    detail = "backup runs" if newest else "no successful backup run"
    # A topic backup needs a store to write to: without one it is not configured at all.
    return BackupAge("topics", newest, detail, configured=bool(settings.stores) or bool(newest))


def _config_backup(settings: Settings) -> BackupAge:
    name = settings.config_repo.backup_store if settings.config_repo else None
    if name is None:
        detail = "no config repository backup store"
        return BackupAge("config_repository", None, detail, configured=False)
    try:
        bundles = list_bundles(open_store(settings, name))
    except StreamdrError as exc:
        return BackupAge("config_repository", None, exc.message)
    newest = max((b.created_at for b in bundles), default=None)
    return BackupAge("config_repository", newest, f"{len(bundles)} bundles in {name}")


def metadata_db_backup(settings: Settings, store: MetadataStore, now: datetime) -> BackupAge:
    """Return up to when the metadata DB's Litestream replicas hold it (the most current one).

    Not configured (no ``metadata_db.backup``) is ``configured=False``, never an age; a replica
    that cannot be read is named in the detail and counts as holding nothing.
    """
    if settings.metadata_db.backup is None:
        return BackupAge("metadata_db", None, "no replica configured", configured=False)
    try:
        db = sqlite_path(store.url)
        runtimes = prepare(settings, db)
    except StreamdrError as exc:
        return BackupAge("metadata_db", None, exc.message)
    written = last_write_at(db)
    currents: list[datetime | None] = []
    notes: list[str] = []
    for runtime in runtimes:
        status = replica_status(runtime, db, REPLICA_READ_TIMEOUT_S)
        current = replica_current_at(status, written, now)
        currents.append(current)
        notes.append(f"{runtime.place.name}: {_replica_note(status, current, now)}")
    newest = max((c for c in currents if c is not None), default=None)
    return BackupAge("metadata_db", newest, "; ".join(notes))


def _replica_note(status: dict[str, Any], current: datetime | None, now: datetime) -> str:
    if status.get("error"):
        return str(status["error"])
    if current is None:
        return "empty"
    return "caught up" if current == now else f"newest file {status.get('latest_file_at')}"


def drill_runs(store: MetadataStore, limit: int = DRILL_HISTORY) -> list[DrillRun]:
    """Return the newest stored drill runs with their RTO, RPO and targets."""
    out = []
    for doc in list_reports(store, limit=limit):
        finished = doc.get("finished_at") or doc.get("started_at")
        if not isinstance(finished, str):
            continue
        targets = doc.get("targets") if isinstance(doc.get("targets"), dict) else {}
        out.append(
            DrillRun(
                scenario=str(doc.get("scenario")),
                finished_at=_utc(datetime.fromisoformat(finished)) or utcnow(),
                passed=bool(doc.get("passed")),
                rto_seconds=_number(doc.get("rto_seconds")),
                rpo_seconds=_number(doc.get("rpo_seconds")),
                target_rto_seconds=_number(targets.get("rto_seconds")),
                target_rpo_seconds=_number(targets.get("rpo_seconds")),
            )
        )
    return out


def gather_failover(settings: Settings, store: MetadataStore) -> FailoverState:
    """Return the active site, an unresolved platform failover run and recent runs."""
    active = active_site(store, settings, PLATFORM_SCOPE)
    running = unfinished_run(store, PLATFORM_SCOPE)
    brief = None
    if running is not None:
        keys = ("id", "kind", "from_site", "to_site", "status", "started_at")
        brief = {k: running.get(k) for k in keys}
    history = tuple(list_runs(store, PLATFORM_SCOPE, limit=20))
    return FailoverState(
        active, settings.replication.home_site or settings.primary_site, brief, history
    )


def client_tiers(settings: Settings, store: MetadataStore) -> dict[str, tuple[str, ...]]:
    """Return the tiers each client's deployed workflows use."""
    clients: dict[str, set[str]] = {}
    try:
        workflows = deployed_workflows(settings, store)
    except StreamdrError:
        return {}
    for w in workflows:
        clients.setdefault(w.client, set()).add(str(w.tier))
    return {c: tuple(sorted(t)) for c, t in sorted(clients.items())}
