"""Pure views over catalog entries: per-partition progress, coverage summaries, continuity."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamdr.backup.model import GAP_RETENTION, ManifestEntry, TopicPartition
from streamdr.clock import iso_ms, ms_to_datetime


@dataclass(frozen=True)
class Finding:
    """One problem found in a backup: an error fails verification, a warning does not."""

    severity: str
    kind: str
    where: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """Return the finding as a JSON-ready mapping."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "where": self.where,
            "detail": self.detail,
        }


def by_partition(entries: Iterable[ManifestEntry]) -> dict[TopicPartition, list[ManifestEntry]]:
    """Return entries grouped by topic-partition, each list sorted by start offset."""
    out: dict[TopicPartition, list[ManifestEntry]] = {}
    for entry in entries:
        out.setdefault(entry.tp, []).append(entry)
    for items in out.values():
        items.sort(key=lambda e: (e.start_offset, e.end_offset))
    return dict(sorted(out.items()))


def progress(entries: Iterable[ManifestEntry]) -> dict[TopicPartition, int]:
    """Return, per partition, the offset the next backup run continues from."""
    return {tp: max(e.end_offset for e in items) for tp, items in by_partition(entries).items()}


def continuity_findings(entries: Iterable[ManifestEntry]) -> list[Finding]:
    """Return holes, overlaps and unbalanced entries in each partition's offset coverage."""
    findings: list[Finding] = []
    for tp, items in by_partition(entries).items():
        for entry in items:
            if not entry.balanced() or entry.end_offset <= entry.start_offset:
                findings.append(
                    Finding(
                        "error",
                        "entry",
                        str(tp),
                        f"entry {entry.start_offset}-"
                        f"{entry.end_offset} does not add up (records, absent, gaps)",
                    )
                )
        for prev, nxt in itertools.pairwise(items):
            if nxt.start_offset > prev.end_offset:
                findings.append(
                    Finding(
                        "error",
                        "continuity",
                        str(tp),
                        f"offsets {prev.end_offset}-"
                        f"{nxt.start_offset - 1} are in no catalog entry (unrecorded gap)",
                    )
                )
            elif nxt.start_offset < prev.end_offset:
                findings.append(
                    Finding(
                        "error",
                        "overlap",
                        str(tp),
                        f"entries {prev.start_offset}-"
                        f"{prev.end_offset} and {nxt.start_offset}-{nxt.end_offset} overlap",
                    )
                )
    return findings


@dataclass(frozen=True)
class Hole:
    """Offsets ``[start, end)`` of one partition that its catalog should cover but does not.

    ``kind`` is ``head`` (before the first entry), ``middle`` (between two entries), ``tail``
    (after the last entry) or ``all`` (the bounds record has no entry at all).
    """

    kind: str
    start: int
    end: int

    def describe(self) -> str:
        """Return the hole as a phrase for findings and warnings."""
        where = {
            "head": "before the first catalog entry (a missing first entry?)",
            "middle": "in no catalog entry (a missing entry?)",
            "tail": "after the last catalog entry (a missing last entry?)",
            "all": "in no catalog entry: the partition's entries are all missing",
        }[self.kind]
        return f"offsets {self.start}-{self.end - 1} are {where}"


def coverage_holes(items: list[ManifestEntry], bounds: tuple[int, int] | None) -> list[Hole]:
    """Return the holes of one partition's entries (sorted by offset) against its bounds.

    Without bounds (a backup written before bounds records existed) only middle holes are
    found. Entries outside the bounds are not holes: a crash may leave them (see BackupStore).
    """
    holes = [
        Hole("middle", prev.end_offset, nxt.start_offset)
        for prev, nxt in itertools.pairwise(items)
        if nxt.start_offset > prev.end_offset
    ]
    if bounds is None or bounds[0] >= bounds[1]:
        return holes
    if not items:
        return [Hole("all", *bounds)]
    first, end = min(e.start_offset for e in items), max(e.end_offset for e in items)
    if first > bounds[0]:
        holes.insert(0, Hole("head", bounds[0], min(first, bounds[1])))
    if end < bounds[1]:
        holes.append(Hole("tail", max(end, bounds[0]), bounds[1]))
    return holes


def bounds_findings(
    entries: Iterable[ManifestEntry], bounds: dict[TopicPartition, tuple[int, int]]
) -> list[Finding]:
    """Return errors for missing head/tail entries and warnings for partitions without bounds.

    Middle holes are left to ``continuity_findings``.
    """
    parts = by_partition(entries)
    findings = [
        Finding("error", f"missing-{h.kind}", str(tp), h.describe())
        for tp in sorted(set(parts) | set(bounds))
        for h in coverage_holes(parts.get(tp, []), bounds.get(tp))
        if h.kind != "middle"
    ]
    findings += [
        Finding(
            "warning",
            "no-bounds",
            str(tp),
            "no bounds record: a deleted first or last entry cannot be detected "
            "(the next `backup run` writes one)",
        )
        for tp in parts
        if tp not in bounds
    ]
    return findings


@dataclass(frozen=True)
class PartitionCoverage:
    """What the backup holds of one partition."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    records: int
    files: int
    bytes: int
    min_timestamp: int | None
    max_timestamp: int | None
    lost: int
    absent: int
    last_written: str

    def as_dict(self) -> dict[str, Any]:
        """Return the coverage as a JSON-ready mapping."""
        return {
            "partition": self.partition,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "records": self.records,
            "files": self.files,
            "bytes": self.bytes,
            "min_time": iso_ms(self.min_timestamp),
            "max_time": iso_ms(self.max_timestamp),
            "lost_to_retention": self.lost,
            "absent": self.absent,
            "last_written": self.last_written,
        }


def coverage(tp: TopicPartition, items: list[ManifestEntry]) -> PartitionCoverage:
    """Return the coverage of one partition from its entries."""
    data = [e for e in items if e.has_data]
    return PartitionCoverage(
        topic=tp.topic,
        partition=tp.partition,
        start_offset=min(e.start_offset for e in items),
        end_offset=max(e.end_offset for e in items),
        records=sum(e.records for e in items),
        files=len(data),
        bytes=sum(e.bytes for e in data),
        min_timestamp=min(
            (e.min_timestamp for e in data if e.min_timestamp is not None), default=None
        ),
        max_timestamp=max(
            (e.max_timestamp for e in data if e.max_timestamp is not None), default=None
        ),
        lost=sum(g.size for e in items for g in e.gaps if g.reason == GAP_RETENTION),
        absent=sum(e.absent for e in items),
        last_written=max(e.written_at for e in items),
    )


@dataclass(frozen=True)
class TopicSummary:
    """A topic's backup: per-partition coverage, totals and the age of its newest data."""

    topic: str
    partitions: tuple[PartitionCoverage, ...]

    @property
    def records(self) -> int:
        """Return the number of backed-up records."""
        return sum(p.records for p in self.partitions)

    @property
    def max_timestamp(self) -> int | None:
        """Return the newest record timestamp in the backup (ms), or None."""
        return max((p.max_timestamp for p in self.partitions if p.max_timestamp), default=None)

    @property
    def min_timestamp(self) -> int | None:
        """Return the oldest record timestamp in the backup (ms), or None."""
        return min((p.min_timestamp for p in self.partitions if p.min_timestamp), default=None)

    def age_seconds(self, now: datetime) -> float | None:
        """Return how old the newest backed-up record is at ``now`` (the "backup age")."""
        newest = self.max_timestamp
        return None if newest is None else (now - ms_to_datetime(newest)).total_seconds()

    def as_dict(self, now: datetime) -> dict[str, Any]:
        """Return the summary as a JSON-ready mapping."""
        age = self.age_seconds(now)
        return {
            "topic": self.topic,
            "records": self.records,
            "files": sum(p.files for p in self.partitions),
            "bytes": sum(p.bytes for p in self.partitions),
            "min_time": iso_ms(self.min_timestamp),
            "max_time": iso_ms(self.max_timestamp),
            "newest_data_age_seconds": round(age, 3) if age is not None else None,
            "last_written": max(p.last_written for p in self.partitions),
            "lost_to_retention": sum(p.lost for p in self.partitions),
            "partitions": [p.as_dict() for p in self.partitions],
        }


def summarize(entries: Iterable[ManifestEntry]) -> list[TopicSummary]:
    """Return one summary per topic, sorted by topic name."""
    topics: dict[str, list[PartitionCoverage]] = {}
    for tp, items in by_partition(entries).items():
        topics.setdefault(tp.topic, []).append(coverage(tp, items))
    return [TopicSummary(t, tuple(parts)) for t, parts in sorted(topics.items())]
