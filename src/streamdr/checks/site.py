"""Appendix A's Kafka items and cluster health, evaluated purely from a snapshot.

:mod:`streamdr.checks.inspect` gathers a :class:`SiteSnapshot` from a live site; everything here
is a pure function of it, so each rule is unit-tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from streamdr.kafka.admin import ClusterMetadata
from streamdr.policy.quorum import QuorumStatus
from streamdr.policy.tiers import DRILL_MAX_AGE
from streamdr.policy.topic_policy import TopicPolicy


class Status(StrEnum):
    """Verdict of one check item."""

    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    """One evaluated item: what was checked, the verdict, and who offends."""

    id: str
    description: str
    status: Status
    site: str
    offenders: tuple[str, ...] = ()
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        """Return the result as a JSON-ready mapping."""
        return {
            "id": self.id,
            "description": self.description,
            "status": str(self.status),
            "site": self.site,
            "offenders": list(self.offenders),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SiteSnapshot:
    """Everything `check` needs to know about one site, read at one moment."""

    site: str
    error: str | None = None
    metadata: ClusterMetadata | None = None
    topic_configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    broker_configs: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    quorum: QuorumStatus | None = None

    @property
    def reachable(self) -> bool:
        """Return True when the site answered the metadata request."""
        return self.error is None and self.metadata is not None


def _result(
    item_id: str, description: str, site: str, offenders: Sequence[str], detail: str = ""
) -> CheckResult:
    status = Status.FAIL if offenders else Status.PASS
    return CheckResult(item_id, description, status, site, tuple(offenders), detail)


def evaluate_site(snap: SiteSnapshot, policy: TopicPolicy) -> list[CheckResult]:
    """Return every Kafka item for one site (only reachability when the site is down)."""
    reach = _result(
        "site.reachable",
        "Site answers metadata requests",
        snap.site,
        [snap.site] if not snap.reachable else [],
        snap.error or "",
    )
    if not snap.reachable or snap.metadata is None:
        return [reach]
    md = snap.metadata
    return [
        reach,
        check_replication_factor(snap.site, md, policy),
        check_min_isr(snap.site, snap.topic_configs, policy),
        check_topic_unclean(snap.site, snap.topic_configs),
        check_broker_unclean(snap.site, snap.broker_configs),
        check_under_replicated(snap.site, md),
        check_offline(snap.site, md),
        check_brokers_alive(snap.site, md, snap.quorum),
        *check_quorum(snap.site, snap.quorum),
    ]


def check_replication_factor(site: str, md: ClusterMetadata, policy: TopicPolicy) -> CheckResult:
    """Every topic, internal ones included, has RF >= the policy minimum."""
    bad = sorted(
        f"{t.name} (RF {t.replication_factor})"
        for t in md.topics.values()
        if t.replication_factor < policy.min_replication_factor
    )
    return _result(
        "topics.replication-factor",
        f"Replication factor >= {policy.min_replication_factor} for all topics",
        site,
        bad,
    )


def check_min_isr(
    site: str, configs: Mapping[str, Mapping[str, str]], policy: TopicPolicy
) -> CheckResult:
    """Every topic enforces min.insync.replicas >= the policy minimum."""
    bad = sorted(
        f"{name} (min.insync.replicas {cfg.get('min.insync.replicas', '?')})"
        for name, cfg in configs.items()
        if "min.insync.replicas" in policy.config_violations(cfg)
    )
    return _result(
        "topics.min-insync-replicas",
        f"min.insync.replicas >= {policy.min_insync_replicas} enforced on all topics",
        site,
        bad,
    )


def check_topic_unclean(site: str, configs: Mapping[str, Mapping[str, str]]) -> CheckResult:
    """No topic allows unclean leader election."""
    bad = sorted(
        n
        for n, c in configs.items()
        if c.get("unclean.leader.election.enable", "false").lower() == "true"
    )
    return _result(
        "topics.unclean-leader-election",
        "Unclean leader election disabled on every topic",
        site,
        bad,
    )


def check_broker_unclean(site: str, configs: Mapping[int, Mapping[str, str]]) -> CheckResult:
    """No broker allows unclean leader election by default."""
    bad = sorted(
        f"broker {b}"
        for b, c in configs.items()
        if c.get("unclean.leader.election.enable", "false").lower() == "true"
    )
    return _result(
        "brokers.unclean-leader-election",
        "Unclean leader election disabled on every broker",
        site,
        bad,
    )


def check_under_replicated(site: str, md: ClusterMetadata) -> CheckResult:
    """No partition has fewer in-sync replicas than replicas."""
    bad = [
        f"{p.topic}-{p.partition} (ISR {list(p.isr)} of {list(p.replicas)})"
        for t in md.topics.values()
        for p in t.partitions
        if p.under_replicated and not p.offline
    ]
    return _result(
        "partitions.under-replicated", "No under-replicated partitions", site, sorted(bad)
    )


def check_offline(site: str, md: ClusterMetadata) -> CheckResult:
    """Every partition has a leader."""
    bad = [
        f"{p.topic}-{p.partition}" for t in md.topics.values() for p in t.partitions if p.offline
    ]
    return _result("partitions.offline", "No offline partitions", site, sorted(bad))


def check_brokers_alive(site: str, md: ClusterMetadata, quorum: QuorumStatus | None) -> CheckResult:
    """Every broker that holds replicas (or votes in the quorum) is registered."""
    live = {b.node_id for b in md.brokers}
    expected = {r for t in md.topics.values() for p in t.partitions for r in p.replicas}
    if quorum is not None:
        expected |= {m.node_id for m in quorum.voters}
    missing = sorted(expected - live)
    return _result(
        "brokers.alive",
        "Every broker holding replicas is up",
        site,
        [f"broker {b}" for b in missing],
    )


def check_quorum(site: str, quorum: QuorumStatus | None) -> list[CheckResult]:
    """The controller quorum has a leader and every voter is caught up."""
    if quorum is None or quorum.error is not None:
        why = quorum.error if quorum else "quorum not described"
        return [_result("quorum.leader", "Controller quorum has a leader", site, [site], why)]
    leader = quorum.leader
    leader_result = _result(
        "quorum.leader",
        "Controller quorum has a leader",
        site,
        [] if leader else [site],
        f"leader is node {leader.node_id}" if leader else "no leader",
    )
    lagging = quorum.lagging_voters()
    voters = _result(
        "quorum.voters",
        "Every controller voter is caught up with the leader",
        site,
        [f"controller {n}" for n in lagging],
        f"{len(quorum.voters)} voters",
    )
    return [leader_result, voters]


def check_drill_recency(last_passed: datetime | None, now: datetime) -> CheckResult:
    """A broker-failover drill passed within the last month (Appendix A: monthly drill)."""
    return drill_recency("drills.broker-failover-recent", ("broker-failover",), last_passed, now)


def drill_recency(
    item_id: str,
    scenarios: Sequence[str],
    last_passed: datetime | None,
    now: datetime,
    max_age: timedelta = DRILL_MAX_AGE,
) -> CheckResult:
    """Return item ``item_id``: one of ``scenarios`` passed within ``max_age`` of ``now``.

    The offenders are the scenarios when none passed recently enough (or ever).
    """
    age = now - last_passed if last_passed else None
    stale = age is None or age > max_age
    return _result(
        item_id,
        f"A {' or '.join(scenarios)} drill passed within {max_age.days} days",
        "*",
        list(scenarios) if stale else [],
        "never run" if age is None else f"last passed {age.days} days ago",
    )


def overall_exit_code(results: Sequence[CheckResult]) -> int:
    """Return 3 when a site is unreachable, 1 when any item fails, else 0."""
    if any(r.id == "site.reachable" and r.status is Status.FAIL for r in results):
        return 3
    return 1 if any(r.status is Status.FAIL for r in results) else 0
