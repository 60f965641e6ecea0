"""The pure decision to restart an MM2 JVM that started while its target was dead, and when the
target is known to answer since (read from hostile ``lag.json`` data)."""

import pytest

from streamdr.replication.failover.stale_mm2 import decide_restart, reachable_since
from streamdr.replication.topology import Flow, Topology

NOW = 10_000.0


@pytest.mark.parametrize(
    ("started_at", "since", "heartbeat", "restart", "reason"),
    [
        # The incident: started while the target was dead, no heartbeat in the grace since.
        (NOW - 300, NOW - 100, None, True, "started 200s before primary answered"),
        # Its heartbeats stopped before it started (a predecessor's): still doomed.
        (NOW - 300, NOW - 100, NOW - 400, True, "no heartbeat into it since"),
        # The target answered 30 s ago: a JVM still looking it up may yet get through (a drill
        # restarted one 0.1 s after its herder started): wait, do not restart yet.
        (NOW - 200, NOW - 30, None, False, "30s of 90s to heartbeat"),
        # Started before the target answered, but heartbeated since: it got through.
        (NOW - 200, NOW - 30, NOW - 2, False, "heartbeat into primary 2s ago"),
        # A heartbeat at the very second it started counts.
        (NOW - 200, NOW - 30, NOW - 200, False, "heartbeat into primary"),
        # Started after the target answered and still loading: leave it.
        (NOW - 20, NOW - 30, None, False, "started 20s ago, after primary answered"),
        (NOW - 30, NOW - 30, None, False, "still starting"),
        # Not running: the supervisor starts it; nothing to restart.
        (None, NOW - 30, None, False, "not running"),
    ],
)
def test_decide_restart(started_at, since, heartbeat, restart, reason):
    decision = decide_restart("primary", started_at, since, heartbeat, NOW)
    assert decision.target == "primary"
    assert decision.restart is restart
    assert reason in decision.reason
    assert decision.pending is ("to heartbeat" in reason)


def _topology() -> Topology:
    def flow(source, target):
        return Flow(source, target, ("orders",), (), ("s",), 1.0)

    return Topology(
        ("primary", "dr", "edge"),
        "primary",
        "dr",
        "_",
        (),
        (flow("dr", "primary"), flow("edge", "primary"), flow("primary", "dr")),
    )


def test_reachable_since_is_the_last_failed_sample_of_a_flow_into_the_target():
    samples = {
        "flows": {
            "dr->primary": {"error": None, "error_at": NOW - 50, "sampled_at": NOW - 1},
            "edge->primary": {"error": "x", "error_at": NOW - 40},
            # A flow out of the target does not say the target was down.
            "primary->dr": {"error": "x", "error_at": NOW - 5},
        }
    }
    assert reachable_since(samples, _topology(), "primary", NOW) == NOW - 40


def test_reachable_since_falls_back_when_no_sample_failed():
    samples = {"flows": {"dr->primary": {"error": None, "sampled_at": NOW - 1}}}
    assert reachable_since(samples, _topology(), "primary", NOW - 3) == NOW - 3
    assert reachable_since({}, _topology(), "primary", NOW - 3) == NOW - 3


@pytest.mark.parametrize(
    "samples",
    [
        [],
        {"flows": []},
        {"flows": {"dr->primary": "soon"}},
        {"flows": {"dr->primary": {"error_at": "yesterday"}}},
        {"flows": {"dr->primary": {"error_at": True}}},
        {"flows": {"dr->primary": {"error_at": None}}},
    ],
)
def test_reachable_since_ignores_malformed_samples(samples):
    assert reachable_since(samples, _topology(), "primary", NOW) == NOW
