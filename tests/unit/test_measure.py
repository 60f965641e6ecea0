import pytest

from streamdr.drills.measure import (
    Received,
    Sent,
    duplicate_count,
    first_ack_after,
    lost_records,
    recovery_time,
    rpo_seconds,
)

FAULT = 100.0


def traffic():
    sent = [
        Sent(0, 0, 99.0, 99.01),  # before the fault
        Sent(1, 1, 100.5, 100.51),  # after, but unaffected partition
        Sent(2, 0, 101.0, 108.0),  # sent during the outage, acked late
        Sent(3, 0, 109.0, 109.02),
        Sent(4, 0, 110.0, None, "timed out"),  # never acked: not lost, an error
    ]
    received = [
        Received(0, 0, 99.05),
        Received(1, 1, 100.6),
        Received(2, 0, 108.5),
        Received(3, 0, 109.1),
        Received(3, 0, 109.2),
    ]
    return sent, received


def test_rto_is_max_of_produce_and_consume_recovery_on_affected_partitions():
    sent, received = traffic()
    assert first_ack_after(FAULT, sent, {0}) == 108.0
    assert recovery_time(FAULT, sent, received, {0}) == pytest.approx(8.5)
    # Unaffected partition 1 recovered at once; it must not hide the outage of partition 0.
    assert recovery_time(FAULT, sent, received, {1}) == pytest.approx(0.6)


def test_no_recovery_is_none():
    sent, received = traffic()
    assert recovery_time(FAULT, sent, received[:2], {0}) is None
    assert recovery_time(200.0, sent, received, {0}) is None


def test_rpo_counts_acked_never_consumed():
    sent, received = traffic()
    assert lost_records(sent, received) == []
    assert lost_records(sent, [r for r in received if r.seq != 2]) == [2]
    assert rpo_seconds([], sent) == 0.0
    assert rpo_seconds([2, 3], sent) == pytest.approx(8.0)


def test_duplicates():
    _, received = traffic()
    assert duplicate_count(received) == 1
