from datetime import UTC, datetime, timedelta

from streamdr.checks import service
from streamdr.checks.site import (
    SiteSnapshot,
    Status,
    check_drill_recency,
    evaluate_site,
    overall_exit_code,
)
from streamdr.kafka.admin import Broker, ClusterMetadata, PartitionState, TopicState
from streamdr.policy.quorum import QuorumMember, QuorumStatus
from streamdr.policy.topic_policy import TopicPolicy
from streamdr.settings.loader import parse_settings
from streamdr.store.db import MetadataStore

BROKERS = tuple(Broker(i, "127.0.0.1", 9000 + i) for i in (1, 2, 3))
QUORUM = QuorumStatus(
    tuple(QuorumMember(i, 10, 0, 1000, 1000, "Leader" if i == 1 else "Follower") for i in (1, 2, 3))
)


def topic(name, rf=3, isr=None, leader=1, partitions=1):
    replicas = tuple(range(1, rf + 1))
    return TopicState(
        name,
        tuple(
            PartitionState(name, p, leader, replicas, tuple(isr if isr is not None else replicas))
            for p in range(partitions)
        ),
    )


def snapshot(topics, configs=None, brokers=BROKERS, broker_configs=None, quorum=QUORUM):
    md = ClusterMetadata("cid", 1, brokers, {t.name: t for t in topics})
    cfg = configs or {
        t.name: {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}
        for t in topics
    }
    return SiteSnapshot(
        "primary",
        None,
        md,
        cfg,
        broker_configs or {b.node_id: {"unclean.leader.election.enable": "false"} for b in brokers},
        quorum,
    )


def by_id(results):
    return {r.id: r for r in results}


def test_healthy_site_passes_everything():
    results = evaluate_site(snapshot([topic("orders", partitions=3)]), TopicPolicy())
    assert all(r.status is Status.PASS for r in results), [r for r in results if r.status != "pass"]
    assert overall_exit_code(results) == 0


def test_rf1_topic_fails_replication_factor_item_naming_it():
    results = by_id(evaluate_site(snapshot([topic("good"), topic("bad", rf=1)]), TopicPolicy()))
    item = results["topics.replication-factor"]
    assert item.status is Status.FAIL
    assert item.offenders == ("bad (RF 1)",)
    assert overall_exit_code(list(results.values())) == 1


def test_min_isr_and_unclean_topic_configs():
    configs = {
        "a": {"min.insync.replicas": "1", "unclean.leader.election.enable": "false"},
        "b": {"min.insync.replicas": "2", "unclean.leader.election.enable": "true"},
    }
    results = by_id(evaluate_site(snapshot([topic("a"), topic("b")], configs), TopicPolicy()))
    assert results["topics.min-insync-replicas"].offenders == ("a (min.insync.replicas 1)",)
    assert results["topics.unclean-leader-election"].offenders == ("b",)


def test_broker_level_unclean_election():
    bc = {1: {"unclean.leader.election.enable": "true"}, 2: {}, 3: {}}
    results = by_id(evaluate_site(snapshot([], broker_configs=bc), TopicPolicy()))
    assert results["brokers.unclean-leader-election"].offenders == ("broker 1",)


def test_under_replicated_offline_and_missing_broker():
    urp = topic("urp", isr=(1, 2))
    off = topic("off", leader=-1, isr=())
    results = by_id(evaluate_site(snapshot([urp, off], brokers=BROKERS[:2]), TopicPolicy()))
    assert results["partitions.under-replicated"].offenders == ("urp-0 (ISR [1, 2] of [1, 2, 3])",)
    assert results["partitions.offline"].offenders == ("off-0",)
    assert results["brokers.alive"].offenders == ("broker 3",)


def test_quorum_without_leader_and_lagging_voter():
    lagging = QuorumStatus(
        (
            QuorumMember(1, 10, 0, 100_000, 100_000, "Leader"),
            QuorumMember(2, 1, 9, 50_000, 50_000, "Follower"),
            QuorumMember(3, 10, 0, 100_000, 100_000, "Follower"),
        )
    )
    results = by_id(evaluate_site(snapshot([], quorum=lagging), TopicPolicy()))
    assert results["quorum.leader"].status is Status.PASS
    assert results["quorum.voters"].offenders == ("controller 2",)
    broken = by_id(
        evaluate_site(snapshot([], quorum=QuorumStatus(error="timed out")), TopicPolicy())
    )
    assert broken["quorum.leader"].status is Status.FAIL
    assert broken["quorum.leader"].detail == "timed out"


def test_unreachable_site_reports_only_reachability_and_exit_3():
    results = evaluate_site(SiteSnapshot("dr", error="connection refused"), TopicPolicy())
    assert [r.id for r in results] == ["site.reachable"]
    assert results[0].detail == "connection refused"
    assert overall_exit_code(results) == 3


def test_drill_recency():
    now = datetime(2026, 11, 29, tzinfo=UTC)
    assert check_drill_recency(None, now).status is Status.FAIL
    assert check_drill_recency(now - timedelta(days=40), now).status is Status.FAIL
    assert check_drill_recency(now - timedelta(days=3), now).status is Status.PASS


def test_site_check_is_not_blocked_by_an_overdue_drill(tmp_path, monkeypatch):
    # `check --site primary` is the failback precondition: a healthy site must pass it even when
    # the monthly broker drill is overdue (never run here); platform-wide `check` still fails.
    settings = parse_settings(
        "version: 1\nsites:\n  primary: {bootstrap_servers: '127.0.0.1:1'}\n"
        f"metadata_db: {{url: 'sqlite:///{tmp_path}/m.db'}}\n",
        "s.yaml",
    )
    store = MetadataStore.from_settings(settings)
    monkeypatch.setattr(service, "_runtime", lambda: (object(), None))
    monkeypatch.setattr(service, "snapshot_site", lambda *a: snapshot([topic("orders")]))
    results, code = service.run_checks(settings, store, site="primary")
    assert code == 0 and "drills.broker-failover-recent" not in by_id(results)
    monkeypatch.setattr(service, "_platform_results", lambda s, st, now: [drill_only(now)])
    results, code = service.run_checks(settings, store)
    assert code == 1 and by_id(results)["drills.broker-failover-recent"].status is Status.FAIL


def drill_only(now):
    return check_drill_recency(None, now)
