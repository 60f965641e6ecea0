"""Setting the DR readiness gauges of :mod:`streamdr.observe.metrics` from a :class:`Readiness`."""

from __future__ import annotations

from streamdr.dashboard.model import VERDICT_VALUE, Readiness, verdicts
from streamdr.observe import metrics as m
from streamdr.policy.tiers import DRILL_TARGETS


def publish(r: Readiness) -> None:
    """Replace every readiness gauge's series with the figures of ``r``.

    Series are cleared first so that a topic, scenario or site that went away stops being
    exported instead of keeping its last value.
    """
    for gauge in m.READINESS_GAUGES:
        gauge.clear()
    for lag in r.topics:
        if lag.seconds is not None:
            m.REPLICATION_LAG_SECONDS.labels(lag.topic, lag.tier).set(lag.seconds)
        m.REPLICATION_LAG_MESSAGES.labels(lag.topic, lag.tier).set(lag.messages)
    age = r.lag_sample_age()
    if age is not None:
        m.REPLICATION_SAMPLE_AGE.set(age)
    for site in r.sites:
        m.SITE_UP.labels(site.site, site.role).set(1 if site.up else 0)
    for b in r.backups:
        # Unknown stays absent, never 0: the configured gauge says whether it is missing.
        m.BACKUP_CONFIGURED.labels(b.kind).set(1 if b.configured else 0)
        backup_age = r.backup_age(b.kind)
        if backup_age is not None:
            m.BACKUP_AGE.labels(b.kind).set(backup_age)
    _publish_drills(r)
    m.FAILOVER_IN_PROGRESS.set(1 if r.failover.in_progress else 0)
    home = "true" if r.failover.active_site == r.failover.home_site else "false"
    m.FAILOVER_ACTIVE_SITE.labels(r.failover.active_site, home).set(1)
    for v in verdicts(r):
        m.READINESS.labels(v.tier).set(VERDICT_VALUE[v.verdict])
    m.READINESS_COLLECTED.set(r.at.timestamp())


def _publish_drills(r: Readiness) -> None:
    for run in r.last_runs():
        s = run.scenario
        m.DRILL_LAST_RUN.labels(s).set(run.finished_at.timestamp())
        m.DRILL_PASSED.labels(s).set(1 if run.passed else 0)
        last = r.last_passed([s])
        if last is not None:
            m.DRILL_LAST_PASSED.labels(s).set(last.timestamp())
        if run.rto_seconds is not None:
            m.DRILL_RTO.labels(s).set(run.rto_seconds)
        if run.rpo_seconds is not None:
            m.DRILL_RPO.labels(s).set(run.rpo_seconds)
        rto, rpo = run.target_rto_seconds, run.target_rpo_seconds
        if rto is None and s in DRILL_TARGETS:
            rto, rpo = DRILL_TARGETS[s].rto.total_seconds(), DRILL_TARGETS[s].rpo.total_seconds()
        if rto is not None:
            m.DRILL_RTO_TARGET.labels(s).set(rto)
        if rpo is not None:
            m.DRILL_RPO_TARGET.labels(s).set(rpo)
