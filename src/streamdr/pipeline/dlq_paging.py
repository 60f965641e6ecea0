"""Paging through a DLQ topic: cursors, the offset ranges to read, progress, idle time, batches.

Pure logic for :mod:`streamdr.pipeline.dlq` (the Kafka reader) and
:mod:`streamdr.pipeline.replay`. A *cursor* maps each DLQ partition to the next offset to read
(like a committed offset), printed as ``0:1200,1:1180,2:1190``; partitions it does not name are
read from their start. The end of each partition is the high watermark read once when a read
starts, so a DLQ that keeps growing still yields a finite page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Cursor = dict[int, int]


def parse_cursor(text: str) -> Cursor:
    """Return the cursor written as ``P:O[,P:O…]``; raises ValueError when malformed."""
    cursor: Cursor = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        partition, sep, offset = part.partition(":")
        if not sep or not partition.strip().isdigit() or not offset.strip().isdigit():
            raise ValueError(f"{part!r} is not PARTITION:OFFSET (two non-negative integers)")
        if int(partition) in cursor:
            raise ValueError(f"partition {int(partition)} appears twice")
        cursor[int(partition)] = int(offset)
    if not cursor:
        raise ValueError("an empty cursor")
    return cursor


def format_cursor(cursor: Mapping[int, int]) -> str:
    """Return ``cursor`` as ``P:O,…`` sorted by partition (the inverse of parse_cursor)."""
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


@dataclass(frozen=True)
class OffsetRange:
    """The offsets ``start`` (inclusive) to ``end`` (exclusive) of one partition."""

    start: int
    end: int


def plan_ranges(
    watermarks: Mapping[int, tuple[int, int]], start: Mapping[int, int]
) -> dict[int, OffsetRange]:
    """Return {partition: OffsetRange} still to read, given (low, high) watermarks and a cursor.

    A cursor below the low watermark (retention deleted those records) starts at the low one;
    partitions with nothing left are left out.
    """
    ranges: dict[int, OffsetRange] = {}
    for partition, (low, high) in sorted(watermarks.items()):
        begin = max(low, start.get(partition, low))
        if begin < high:
            ranges[partition] = OffsetRange(begin, high)
    return ranges


@dataclass
class ReadProgress:
    """Where a read of several partitions stands: next offset per partition, which are done."""

    ranges: Mapping[int, OffsetRange]
    start: Mapping[int, int] = field(default_factory=dict)  # the cursor the read began at
    next: Cursor = field(default_factory=dict)
    remaining: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.next = {p: r.start for p, r in self.ranges.items()}
        self.remaining = set(self.ranges)

    @property
    def done(self) -> bool:
        """Return True once every partition reached the end seen at the start."""
        return not self.remaining

    def take(self, partition: int, offset: int) -> bool:
        """Record a record read at ``offset``; return True when it lies inside the range."""
        rng = self.ranges.get(partition)
        if rng is None or partition not in self.remaining:
            return False
        if offset >= rng.end:
            self.reached_end(partition, rng.end)
            return False
        self.next[partition] = max(self.next[partition], offset + 1)
        if offset + 1 >= rng.end:
            self.remaining.discard(partition)
        return offset >= rng.start

    def reached_end(self, partition: int, offset: int) -> None:
        """Record that ``partition`` has nothing more to read (end of partition at ``offset``)."""
        rng = self.ranges.get(partition)
        if rng is None:
            return
        # Under read_committed the end reported can be the last stable offset, below the end.
        self.next[partition] = max(self.next[partition], min(offset, rng.end))
        self.remaining.discard(partition)

    def cursor(self) -> Cursor:
        """Return the next offset per partition (partitions of the start cursor not read kept)."""
        return {**self.start, **self.next}


@dataclass
class IdleWatch:
    """An idle timeout: how long since the read last made progress (not since it started)."""

    timeout: float
    last: float

    def progressed(self, now: float) -> None:
        """Record progress (a record, an end of partition, or the caller asking for more)."""
        self.last = now

    def expired(self, now: float) -> bool:
        """Return True when nothing happened for longer than the timeout."""
        return now - self.last > self.timeout


@dataclass
class BatchPolicy:
    """When a replay batch is complete: ``size`` entries or ``seconds`` since its first one."""

    size: int = 500
    seconds: float = 5.0

    def full(self, count: int, started: float, now: float) -> bool:
        """Return True when a batch of ``count`` entries begun at ``started`` should be closed."""
        return count >= self.size or (count > 0 and now - started >= self.seconds)


def group_offsets(pairs: list[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """Return {partition: (lowest, highest offset)} of (partition, offset) pairs."""
    spans: dict[int, tuple[int, int]] = {}
    for partition, offset in pairs:
        lo, hi = spans.get(partition, (offset, offset))
        spans[partition] = (min(lo, offset), max(hi, offset))
    return spans
