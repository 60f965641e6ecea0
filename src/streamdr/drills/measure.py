"""RTO and RPO, computed purely from what a drill's traffic recorded.

Definitions (docs/drills.md):
- RTO: fault → the first moment both a produce *sent after the fault* was acknowledged and a
  record sent after the fault was consumed, on a partition the fault affected.
- RPO (messages): acknowledged records that were never consumed. Must be 0.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Sent:
    """One produced record: when it was sent and, if it was, acknowledged."""

    seq: int
    partition: int
    sent_at: float
    acked_at: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Received:
    """One consumed record."""

    seq: int
    partition: int
    received_at: float


def first_ack_after(
    fault_at: float, sent: Iterable[Sent], partitions: Collection[int]
) -> float | None:
    """Return the earliest ack time of a record sent after ``fault_at`` to ``partitions``."""
    times = [
        s.acked_at
        for s in sent
        if s.acked_at is not None and s.sent_at >= fault_at and s.partition in partitions
    ]
    return min(times, default=None)


def first_receive_after(
    fault_at: float, sent: Iterable[Sent], received: Iterable[Received], partitions: Collection[int]
) -> float | None:
    """Return the earliest time a record sent after ``fault_at`` to ``partitions`` was consumed."""
    after = {s.seq for s in sent if s.sent_at >= fault_at and s.partition in partitions}
    times = [r.received_at for r in received if r.seq in after]
    return min(times, default=None)


def recovery_time(
    fault_at: float, sent: Iterable[Sent], received: Iterable[Received], partitions: Collection[int]
) -> float | None:
    """Return RTO in seconds, or None when produce or consume never recovered."""
    sent = list(sent)
    acked = first_ack_after(fault_at, sent, partitions)
    consumed = first_receive_after(fault_at, sent, received, partitions)
    if acked is None or consumed is None:
        return None
    return max(acked, consumed) - fault_at


def lost_records(sent: Iterable[Sent], received: Iterable[Received]) -> list[int]:
    """Return the sequence numbers that were acknowledged but never consumed (sorted)."""
    seen = {r.seq for r in received}
    return sorted(s.seq for s in sent if s.acked_at is not None and s.seq not in seen)


def duplicate_count(received: Iterable[Received]) -> int:
    """Return how many consumed records repeat a sequence number already consumed."""
    seqs = [r.seq for r in received]
    return len(seqs) - len(set(seqs))


def rpo_seconds(lost: Collection[int], sent: Iterable[Sent]) -> float:
    """Return the span of traffic the lost records cover (0 when none were lost)."""
    lost = set(lost)
    times = [s.sent_at for s in sent if s.seq in lost]
    return (max(times) - min(times)) if times else 0.0
