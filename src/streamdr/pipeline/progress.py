"""Pure bookkeeping of a partition batch: lanes of ordered events and safe commit points.

A *lane* is a run of events that must be delivered in order: with ``ordering: key`` one record
key of one partition, with ``ordering: partition`` the whole partition. Lanes run concurrently;
offsets are committed per partition only up to the first unfinished event, whatever lane it is
in, and the partition is rewound to that event, so nothing is ever skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

TP = tuple[str, int]


@dataclass(frozen=True)
class BatchResult:
    """What a processor made of a batch, per partition.

    ``finished``: the offset to commit (one after the last event finished before the first
    unfinished one), only for partitions that advanced. ``rewind``: the first unfinished offset.
    ``committed``: the processor already made ``finished`` durable (a Kafka transaction).
    """

    finished: dict[TP, int] = field(default_factory=dict)
    rewind: dict[TP, int] = field(default_factory=dict)
    committed: bool = False


def commit_points(
    offsets: Iterable[tuple[TP, int]], unfinished: Collection[tuple[TP, int]]
) -> BatchResult:
    """Return the commit point and rewind per partition of a batch.

    ``offsets`` are the batch's (partition, offset) pairs; ``unfinished`` those not finished.
    """
    by_tp: dict[TP, list[int]] = {}
    for tp, offset in offsets:
        by_tp.setdefault(tp, []).append(offset)
    gaps: dict[TP, int] = {}
    for tp, offset in unfinished:
        gaps[tp] = min(offset, gaps.get(tp, offset))
    finished: dict[TP, int] = {}
    for tp, seen in by_tp.items():
        first = min(seen)
        point = gaps.get(tp, max(seen) + 1)
        if point > first:
            finished[tp] = point
    return BatchResult(finished=finished, rewind=gaps)


def lane_of(topic: str, partition: int, key: bytes | None, ordering: str) -> str:
    """Return the lane id (32 hex characters) of a record under ``ordering`` (key|partition).

    A record without a key has no key order to keep, but we keep its partition's order rather
    than guess: it shares the partition's lane.
    """
    material = f"{topic}\x1f{partition}".encode()
    if ordering == "key" and key is not None:
        material += b"\x1f" + key
    return hashlib.sha256(material).hexdigest()[:32]


def group_lanes(lanes: Sequence[str]) -> list[list[int]]:
    """Return the indexes of ``lanes`` grouped by lane, each group in input order."""
    groups: dict[str, list[int]] = {}
    for index, lane in enumerate(lanes):
        groups.setdefault(lane, []).append(index)
    return list(groups.values())


def assign_streams(lanes: Sequence[str], streams: int) -> list[list[int]]:
    """Return ``streams`` lists of indexes; every lane goes whole to one stream, in order."""
    out: list[list[int]] = [[] for _ in range(max(1, streams))]
    for index, lane in enumerate(lanes):
        out[int(lane[:8], 16) % len(out)].append(index)
    return [s for s in out if s]
