"""Lag samples: only a complete measurement replaces the one a failover will use as its RPO."""

from streamdr.replication.lag.arithmetic import LagStatus, PartitionLag
from streamdr.replication.lag.monitor import FlowLag
from streamdr.replication.lag.sampler import merge_flow


def part(n, secs):
    return PartitionLag("a->b", "t", "a_t", n, 10, 8, 2, secs, LagStatus.OK)


def test_a_complete_sample_replaces_the_partitions():
    entry = {}
    merge_flow(entry, FlowLag("a->b", 1.5, [part(0, 0.4), part(1, 0.0)]), now=100.0)
    assert entry["sampled_at"] == 100.0 and entry["error"] is None
    assert [p["seconds_behind"] for p in entry["partitions"]] == [0.4, 0.0]
    assert entry["heartbeat_age_seconds"] == 1.5


def test_a_failed_sample_keeps_the_last_complete_one():
    entry = {}
    merge_flow(entry, FlowLag("a->b", 1.0, [part(0, 0.4)]), now=100.0)
    merge_flow(entry, FlowLag("a->b", None, [], error="site 'a' unreachable"), now=102.0)
    assert entry["sampled_at"] == 100.0 and entry["partitions"][0]["seconds_behind"] == 0.4
    assert entry["error"] == "site 'a' unreachable" and entry["error_at"] == 102.0
    assert entry["heartbeat_age_seconds"] is None


def test_a_sample_with_an_unknown_age_keeps_the_last_complete_one():
    # The source answered its offsets, then died before the probe read the first record.
    entry = {}
    merge_flow(entry, FlowLag("a->b", 1.0, [part(0, 0.4), part(1, 0.2)]), now=100.0)
    merge_flow(entry, FlowLag("a->b", 1.0, [part(0, 0.3), part(1, None)]), now=102.0)
    assert entry["sampled_at"] == 100.0
    assert [p["seconds_behind"] for p in entry["partitions"]] == [0.4, 0.2]
    assert "unknown on 1 partition" in entry["error"]
    merge_flow(entry, FlowLag("a->b", 1.0, [part(0, 0.1), part(1, 0.1)]), now=104.0)
    assert entry["sampled_at"] == 104.0 and entry["error"] is None
