"""Readiness verdicts, the dashboard's alert list, lag.json parsing and the published gauges."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from streamdr.dashboard.collect import publish
from streamdr.dashboard.gather import topic_lags
from streamdr.dashboard.model import (
    BackupAge,
    ClientStatus,
    DrillRun,
    FailoverState,
    Readiness,
    SiteHealth,
    TopicLag,
    Verdict,
    active_alerts,
    client_status,
    drill_trends,
    never_run_drills,
    tier_verdict,
)
from streamdr.observe.metrics import exposition
from streamdr.policy.tiers import Tier
from streamdr.replication.topology import Flow, ReplicatedSet, Topology

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# The strategy's other drill-table rows ran recently: only the tested facts make alerts fire.
OTHER_DRILLS = tuple(
    DrillRun(s, NOW - timedelta(days=2), True, 10.0, 0.0)
    for s in ("broker-failover", "config-rollback", "workflow-failure", "metadata-db-restore")
)


def _readiness(**changes) -> Readiness:
    base = Readiness(
        at=NOW,
        sites=(SiteHealth("a", "active", True, "3 brokers"), SiteHealth("b", "standby", True, "")),
        topics=(TopicLag("orders", "standard", "a->b", 2.0, 10),),
        backups=(
            BackupAge("topics", NOW - timedelta(hours=2), ""),
            BackupAge("config_repository", NOW - timedelta(minutes=20), ""),
            BackupAge("metadata_db", NOW - timedelta(seconds=30), "local: caught up"),
        ),
        drills=(
            DrillRun("site-failover", NOW - timedelta(days=3), True, 40.0, 0.0, 1800.0, 300.0),
            DrillRun("site-failover", NOW - timedelta(days=40), True, 60.0, 1.0, 1800.0, 300.0),
            *OTHER_DRILLS,
        ),
        failover=FailoverState("a", "a"),
        lag_sampled_at=NOW - timedelta(seconds=5),
    )
    return replace(base, **changes)


def _names(r: Readiness) -> list[str]:
    return [a.name for a in active_alerts(r)]


def test_healthy_facts_are_ready_with_no_alerts():
    r = _readiness()
    assert tier_verdict(r, "standard").verdict is Verdict.READY
    assert tier_verdict(r, "non-critical").verdict is Verdict.READY
    assert active_alerts(r) == []


def test_lag_above_critical_makes_the_tier_not_ready_and_fires_critical():
    r = _readiness(topics=(TopicLag("orders", "standard", "a->b", 700.0, 500),))
    v = tier_verdict(r, "standard")
    assert v.verdict is Verdict.NOT_READY
    assert v.reasons == ("orders: 700s behind",)
    assert _names(r) == ["StreamdrReplicationLagCritical"]
    assert tier_verdict(r, "critical").verdict is Verdict.READY  # other tier unaffected


def test_lag_between_warning_and_critical_is_at_risk_and_a_warning():
    r = _readiness(topics=(TopicLag("orders", "standard", "a->b", 400.0, 50),))
    assert tier_verdict(r, "standard").verdict is Verdict.AT_RISK
    assert _names(r) == ["StreamdrReplicationLagWarning"]


def test_a_standby_site_down_is_not_ready_and_fires_dr_unavailable():
    r = _readiness(
        sites=(SiteHealth("a", "active", True, ""), SiteHealth("b", "standby", False, "x"))
    )
    assert tier_verdict(r, "critical").verdict is Verdict.NOT_READY
    assert _names(r) == ["StreamdrDrClusterUnavailable"]


def test_stale_lag_samples_put_the_tier_at_risk():
    r = _readiness(lag_sampled_at=NOW - timedelta(minutes=30))
    assert tier_verdict(r, "standard").verdict is Verdict.AT_RISK
    assert "StreamdrLagSamplesStale" in _names(r)


def test_no_site_drill_within_90_days_is_at_risk_and_overdue():
    old = DrillRun("site-failover", NOW - timedelta(days=100), True, 40.0, 0.0, 1800.0, 300.0)
    r = _readiness(drills=(old, *OTHER_DRILLS))
    assert tier_verdict(r, "critical").verdict is Verdict.AT_RISK
    assert _names(r) == ["StreamdrDrillOverdue"]


def test_old_topic_backup_makes_non_critical_not_ready():
    r = _readiness(
        backups=(
            BackupAge("topics", NOW - timedelta(hours=30), ""),
            BackupAge("config_repository", NOW, ""),
            BackupAge("metadata_db", NOW, ""),
        )
    )
    assert tier_verdict(r, "non-critical").verdict is Verdict.NOT_READY
    assert _names(r) == ["StreamdrBackupStale"]
    assert tier_verdict(_readiness(backups=()), "non-critical").reasons == ("no topics backup",)


def test_rto_above_target_fires():
    run = DrillRun("site-failover", NOW - timedelta(days=1), False, 2000.0, 0.0, 1800.0, 300.0)
    assert _names(_readiness(drills=(run, *OTHER_DRILLS))) == ["StreamdrDrillRtoAboveTarget"]


def test_an_unresolved_failover_fires():
    run = {"kind": "failover", "from_site": "a", "to_site": "b", "status": "running"}
    assert _names(_readiness(failover=FailoverState("b", "a", run))) == [
        "StreamdrFailoverInProgress"
    ]


def test_trends_are_oldest_first_per_scenario():
    trends = drill_trends(_readiness())
    assert [p["rto_seconds"] for p in trends["site-failover"]] == [60.0, 40.0]


def _topology() -> Topology:
    s = ReplicatedSet("wf", Tier.CRITICAL, ("orders",), (), 60.0)
    f = Flow("a", "b", ("orders",), (), ("wf",), 1.0)
    return Topology(("a", "b"), "a", "a", ".", (s,), (f,))


def test_topic_lags_take_the_worst_partition_and_sum_messages():
    samples = {
        "updated_at": NOW.timestamp(),
        "flows": {
            "a->b": {
                "partitions": [
                    {"topic": "orders", "seconds_behind": 3.0, "messages_behind": 4},
                    {"topic": "orders", "seconds_behind": 9.5, "messages_behind": 6},
                ]
            }
        },
    }
    lags, sampled = topic_lags(_topology(), samples)
    assert lags == [TopicLag("orders", "critical", "a->b", 9.5, 10)]
    assert sampled == NOW


def test_topic_lags_skip_hostile_entries():
    samples = {
        "updated_at": "soon",
        "flows": {
            "a->b": {"partitions": [{"topic": 5}, "x", {"topic": "t", "seconds_behind": "NaN"}]},
            "c->d": ["not a dict"],
        },
    }
    lags, sampled = topic_lags(None, samples)
    assert lags == [TopicLag("t", "unknown", "a->b", None, 0)]
    assert sampled is None
    assert topic_lags(None, {"flows": "x"}) == ([], None)


def test_publish_exports_the_readiness_series_and_drops_old_ones():
    publish(_readiness(topics=(TopicLag("gone", "standard", "a->b", 1.0, 1),)))
    publish(_readiness())
    text = exposition().decode()
    assert 'streamdr_replication_lag_seconds{tier="standard",topic="orders"} 2.0' in text
    assert 'topic="gone"' not in text
    assert 'streamdr_drill_rto_seconds{scenario="site-failover"} 40.0' in text
    assert 'streamdr_readiness_ratio{tier="standard"} 1.0' in text
    assert 'streamdr_site_up_ratio{role="standby",site="b"} 1.0' in text
    assert 'streamdr_backup_age_seconds{kind="topics"} 7200.0' in text
    assert 'streamdr_backup_age_seconds{kind="metadata_db"} 30.0' in text
    assert 'streamdr_backup_configured_ratio{kind="metadata_db"} 1.0' in text


def test_an_unconfigured_backup_is_unknown_not_zero():
    """No replica configured: configured 0 and no age series; the alert says not configured."""
    backups = (
        BackupAge("topics", NOW - timedelta(hours=2), ""),
        BackupAge("config_repository", NOW, ""),
        BackupAge("metadata_db", None, "no replica configured", configured=False),
    )
    r = _readiness(backups=backups)
    publish(r)
    text = exposition().decode()
    assert 'streamdr_backup_configured_ratio{kind="metadata_db"} 0.0' in text
    assert 'streamdr_backup_age_seconds{kind="metadata_db"}' not in text
    assert _names(r) == ["StreamdrBackupNotConfigured"]


def test_a_configured_backup_with_none_found_or_stale_fires():
    def metadb(last_at: datetime | None) -> Readiness:
        backups = (
            BackupAge("topics", NOW - timedelta(hours=2), ""),
            BackupAge("config_repository", NOW, ""),
            BackupAge("metadata_db", last_at, "local: empty"),
        )
        return _readiness(backups=backups)

    assert _names(metadb(None)) == ["StreamdrBackupMissing"]
    assert _names(metadb(NOW - timedelta(minutes=20))) == ["StreamdrBackupStale"]
    assert _names(metadb(NOW - timedelta(minutes=2))) == []


def test_a_drill_of_the_strategy_table_that_never_ran_fires():
    runs = tuple(d for d in OTHER_DRILLS if d.scenario != "metadata-db-restore")
    r = _readiness(drills=(DrillRun("site-failover-automatic", NOW, True, 5.0, 0.0), *runs))
    assert [(a.name, a.subject) for a in active_alerts(r)] == [
        ("StreamdrDrillNeverRun", "database-restore")
    ]
    assert never_run_drills(_readiness(drills=())) == [
        "node-failover",
        "configuration-rollback",
        "transformation-rollback",
        "database-restore",
        "full-site-failover",
    ]


def _sites(a_up: bool = True, b_up: bool = True) -> tuple[SiteHealth, ...]:
    return (SiteHealth("a", "active", a_up, ""), SiteHealth("b", "standby", b_up, ""))


CLIENTS = {"gold": ("critical",), "plain": ("standard",), "mixed": ("critical", "non-critical")}


def test_each_client_sees_only_its_own_workflows_sites():
    r = _readiness(clients=CLIENTS)
    assert [client_status(r, c).sites for c in CLIENTS] == [("a", "b"), ("a",), ("a", "b")]
    assert {client_status(r, c).state for c in CLIENTS} == {"operational"}


def test_losing_the_active_site_is_an_outage_only_for_clients_that_follow_it():
    r = _readiness(clients=CLIENTS, sites=_sites(a_up=False))
    assert client_status(r, "plain").state == "outage"
    assert client_status(r, "gold") == ClientStatus(
        "degraded (site a is down)", "at-risk", ("a", "b")
    )
    lost_standby = _readiness(clients=CLIENTS, sites=_sites(b_up=False))
    assert client_status(lost_standby, "plain").state == "operational"
    assert client_status(lost_standby, "mixed").css == "at-risk"


def test_a_platform_failover_affects_clients_on_the_active_site_not_active_active_ones():
    run = {"kind": "failover", "from_site": "a", "to_site": "b", "status": "running"}
    r = _readiness(clients=CLIENTS, failover=FailoverState("b", "a", run))
    assert client_status(r, "plain") == ClientStatus("failover in progress", "at-risk", ("b",), run)
    assert client_status(r, "gold") == ClientStatus("operational", "ready", ("a", "b"))
    done = _readiness(clients=CLIENTS, failover=FailoverState("b", "a"))
    assert client_status(done, "plain").state.startswith("operational (running on the disaster")
    assert client_status(done, "gold").state == "operational"
