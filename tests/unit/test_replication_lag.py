"""Lag arithmetic: replicated position from the newest sync, messages and seconds behind."""

from streamdr.replication.lag.arithmetic import (
    LagStatus,
    Thresholds,
    heartbeat_age,
    messages_behind,
    partition_lag,
    replicated_position,
    seconds_behind,
    summarize,
    worst,
)
from streamdr.replication.mm2.records import OffsetSync

T = Thresholds(300, 600)


def lag(sync, source_end, target_end, first_ms=None, now_ms=100_000, start=0):
    return partition_lag(
        flow="a->b",
        topic="t",
        remote_topic="a_t",
        partition=0,
        source_start=start,
        source_end=source_end,
        target_end=target_end,
        sync=sync,
        first_unreplicated_ms=first_ms,
        now_ms=now_ms,
        thresholds=T,
    )


def test_replicated_position_counts_records_after_the_newest_sync():
    assert replicated_position(OffsetSync("t", 0, 100, 40), 0, 45) == 105
    assert replicated_position(OffsetSync("t", 0, 100, 40), 0, 41) == 101
    assert replicated_position(None, 7, 0) == 7


def test_caught_up_partition_has_zero_lag():
    p = lag(OffsetSync("t", 0, 99, 49), source_end=100, target_end=50)
    assert (p.messages_behind, p.seconds_behind, p.status) == (0, 0.0, LagStatus.OK)


def test_behind_partition_reports_age_of_oldest_unreplicated_record():
    p = lag(OffsetSync("t", 0, 99, 49), 150, 50, first_ms=100_000 - 42_500)
    assert p.messages_behind == 50
    assert p.replicated_to == 100
    assert p.seconds_behind == 42.5
    assert p.status is LagStatus.OK


def test_nothing_replicated_yet_counts_from_the_log_start():
    p = lag(None, source_end=30, target_end=0, first_ms=100_000 - 700_000, start=10)
    assert p.messages_behind == 20 and p.status is LagStatus.CRITICAL


def test_duplicates_on_the_target_never_make_lag_negative():
    assert messages_behind(100, 140) == 0
    assert seconds_behind(0, None, 5) == 0.0
    assert seconds_behind(3, None, 5) is None


def test_thresholds():
    assert T.judge(299.9, 5) is LagStatus.OK
    assert T.judge(300, 5) is LagStatus.WARNING
    assert T.judge(600, 5) is LagStatus.CRITICAL
    assert T.judge(None, 5) is LagStatus.UNKNOWN
    assert T.judge(None, 0) is LagStatus.OK


def test_summaries_take_the_worst_figures():
    a = lag(OffsetSync("t", 0, 9, 9), 10, 10)
    b = lag(OffsetSync("t", 0, 9, 9), 500, 10, first_ms=100_000 - 400_000)
    s = summarize("wf", [a, b])
    assert (s.messages_behind, s.seconds_behind, s.status, s.partitions) == (
        490,
        400.0,
        LagStatus.WARNING,
        2,
    )
    assert summarize("empty", []).status is LagStatus.OK
    assert worst([LagStatus.OK, LagStatus.UNKNOWN]) is LagStatus.UNKNOWN


def test_heartbeat_age():
    assert heartbeat_age(None, 10) is None
    assert heartbeat_age(1000, 3500) == 2.5
