"""Replication lag arithmetic (pure).

Per replicated partition, with the newest offset sync ``(u, d)`` MM2 wrote for it:

- the target holds the upstream records before ``R = u + (target_end - d)`` (records after a
  sync are copied one for one; MM2 emits a new sync on any gap), so
- ``messages_behind = max(0, source_end - R)``, and
- ``seconds_behind = now - timestamp(first record at or after R on the source)``, 0 when caught up.

No sync yet for a partition means nothing of it was replicated: everything between the source's
start and end offsets is behind. Heartbeats give a second figure per flow: the age of the newest
replicated heartbeat on the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

from streamdr.replication.mm2.records import OffsetSync


class LagStatus(StrEnum):
    """Verdict on a lag figure; ordered from best to worst."""

    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"


_ORDER = [LagStatus.OK, LagStatus.UNKNOWN, LagStatus.WARNING, LagStatus.CRITICAL]


def worst(statuses: Iterable[LagStatus]) -> LagStatus:
    """Return the worst status (OK for none)."""
    return max(statuses, key=_ORDER.index, default=LagStatus.OK)


@dataclass(frozen=True)
class Thresholds:
    """Seconds behind at which lag is a warning and critical (strategy: 5 and 10 minutes)."""

    warning_seconds: float = 300.0
    critical_seconds: float = 600.0

    def judge(self, seconds: float | None, messages: int) -> LagStatus:
        """Return the status of one lag figure."""
        if messages == 0:
            return LagStatus.OK
        if seconds is None:
            return LagStatus.UNKNOWN
        if seconds >= self.critical_seconds:
            return LagStatus.CRITICAL
        if seconds >= self.warning_seconds:
            return LagStatus.WARNING
        return LagStatus.OK


@dataclass(frozen=True)
class PartitionLag:
    """Lag of one replicated partition."""

    flow: str
    topic: str
    remote_topic: str
    partition: int
    source_end: int
    replicated_to: int
    messages_behind: int
    seconds_behind: float | None
    status: LagStatus

    def as_dict(self) -> dict[str, object]:
        """Return the figure as JSON-ready data."""
        return {**asdict(self), "status": str(self.status)}


def replicated_position(sync: OffsetSync | None, source_start: int, target_end: int) -> int:
    """Return the upstream offset up to which the target holds the partition."""
    if sync is None:
        return source_start
    return sync.upstream_offset + max(0, target_end - sync.downstream_offset)


def messages_behind(source_end: int, replicated_to: int) -> int:
    """Return how many upstream offsets the target does not hold yet."""
    return max(0, source_end - replicated_to)


def seconds_behind(behind: int, first_unreplicated_ms: int | None, now_ms: int) -> float | None:
    """Return seconds since the oldest record not yet replicated was written (0 if none)."""
    if behind == 0:
        return 0.0
    if first_unreplicated_ms is None:
        return None
    return max(0.0, (now_ms - first_unreplicated_ms) / 1000.0)


def partition_lag(
    *,
    flow: str,
    topic: str,
    remote_topic: str,
    partition: int,
    source_start: int,
    source_end: int,
    target_end: int,
    sync: OffsetSync | None,
    first_unreplicated_ms: int | None,
    now_ms: int,
    thresholds: Thresholds,
) -> PartitionLag:
    """Return the lag of one partition from what the sites reported."""
    replicated = replicated_position(sync, source_start, target_end)
    behind = messages_behind(source_end, replicated)
    secs = seconds_behind(behind, first_unreplicated_ms, now_ms)
    return PartitionLag(
        flow,
        topic,
        remote_topic,
        partition,
        source_end,
        min(replicated, source_end),
        behind,
        None if secs is None else round(secs, 3),
        thresholds.judge(secs, behind),
    )


@dataclass(frozen=True)
class LagSummary:
    """The worst lag over a group of partitions (a workflow, a tier, a flow)."""

    name: str
    messages_behind: int
    seconds_behind: float | None
    status: LagStatus
    partitions: int

    def as_dict(self) -> dict[str, object]:
        """Return the summary as JSON-ready data."""
        return {**asdict(self), "status": str(self.status)}


def summarize(name: str, lags: Sequence[PartitionLag]) -> LagSummary:
    """Return the worst messages and seconds behind over ``lags``."""
    known = [p.seconds_behind for p in lags if p.seconds_behind is not None]
    unknown = any(p.seconds_behind is None for p in lags)
    return LagSummary(
        name,
        max((p.messages_behind for p in lags), default=0),
        None if unknown and not known else max(known, default=0.0),
        worst(p.status for p in lags),
        len(lags),
    )


def heartbeat_age(newest_heartbeat_ms: int | None, now_ms: int) -> float | None:
    """Return the age in seconds of the newest replicated heartbeat (None if there is none)."""
    if newest_heartbeat_ms is None:
        return None
    return round(max(0.0, (now_ms - newest_heartbeat_ms) / 1000.0), 3)
