"""Appendix A replication items, evaluated purely."""

from streamdr.checks.replication import (
    FlowHealth,
    ReplicationSnapshot,
    check_lag_alert,
    check_mm2_replicating,
)

HEALTHY = FlowHealth("primary->dr", "dr", True, 1.2)


def snap(**kw):
    base = dict(required=True, configured=True, standby_sites=("dr",), flows=(HEALTHY,))
    return ReplicationSnapshot(**{**base, **kw})


def test_replicating_passes_and_nothing_to_replicate_passes():
    assert check_mm2_replicating(snap()).status == "pass"
    idle = ReplicationSnapshot(required=False, configured=False)
    result = check_mm2_replicating(idle)
    assert result.status == "pass" and result.detail == "nothing to replicate"


def test_required_but_not_started_fails():
    result = check_mm2_replicating(snap(configured=False, flows=()))
    assert result.status == "fail" and result.offenders == ("not started",)


def test_dead_jvm_stale_heartbeats_and_missing_flow_fail():
    flows = (
        FlowHealth("primary->dr", "dr", False, 1.0),
        FlowHealth("dr->primary", "primary", True, 300.0),
    )
    result = check_mm2_replicating(snap(flows=flows, standby_sites=("dr", "dr2")))
    assert result.status == "fail"
    assert set(result.offenders) == {
        "primary->dr: MM2 not running",
        "dr->primary: heartbeat age 300.0s",
        "dr2: no flow",
    }


def test_lag_alert_threshold_and_current_lag():
    assert check_lag_alert(snap()).status == "pass"
    loose = check_lag_alert(snap(alert_threshold_seconds=300))
    assert loose.status == "fail" and "300s" in loose.offenders[0]
    lagging = check_lag_alert(snap(lagging=("t-0 (75.0s)",)))
    assert lagging.offenders == ("t-0 (75.0s)",)
