"""The restore plan: which files, which records, how many, into what topic (pure, printable).

Time windows are half-open, ``from_time <= timestamp < to_time``, on record timestamps (not on
offsets: Kafka timestamps need not grow with offsets, so files are chosen by their min/max
timestamps and records are filtered one by one). Records keep their partition number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streamdr.backup.catalog import coverage_holes
from streamdr.backup.model import GAP_RETENTION, Gap, ManifestEntry, TopicInfo
from streamdr.clock import datetime_to_ms, ms_to_datetime
from streamdr.errors import InputError

DEFAULT_REPLICATION = 3


@dataclass(frozen=True)
class TimeWindow:
    """Record timestamps ``start_ms <= t < end_ms`` (either side open when None)."""

    start_ms: int | None = None
    end_ms: int | None = None

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None) -> TimeWindow:
        """Return the window between two datetimes; raises InputError when it is empty."""
        if start is not None and end is not None and start >= end:
            raise InputError(
                f"the time range {start.isoformat()} .. {end.isoformat()} is empty",
                hint="--from-time must be earlier than --to-time (the range is [from, to)).",
            )
        return cls(datetime_to_ms(start) if start else None, datetime_to_ms(end) if end else None)

    @property
    def unbounded(self) -> bool:
        """Return True when the window admits every timestamp."""
        return self.start_ms is None and self.end_ms is None

    def overlaps(self, lo: int, hi: int) -> bool:
        """Return True when some timestamp in ``[lo, hi]`` is inside the window."""
        return (self.start_ms is None or hi >= self.start_ms) and (
            self.end_ms is None or lo < self.end_ms
        )

    def covers(self, lo: int, hi: int) -> bool:
        """Return True when every timestamp in ``[lo, hi]`` is inside the window."""
        return (self.start_ms is None or lo >= self.start_ms) and (
            self.end_ms is None or hi < self.end_ms
        )


@dataclass(frozen=True)
class RestoreRequest:
    """What the operator asked for."""

    topic: str
    to_site: str
    partitions: tuple[int, ...] | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    to_topic: str | None = None
    groups: tuple[str, ...] = ()
    all_groups: bool = False
    groups_snapshot: str | None = None
    config: tuple[tuple[str, str], ...] = ()
    force: bool = False

    @property
    def target_topic(self) -> str:
        """Return the topic records are restored into."""
        return self.to_topic or self.topic

    @property
    def window(self) -> TimeWindow:
        """Return the time window; raises InputError when it is empty."""
        return TimeWindow.of(self.from_time, self.to_time)

    def as_dict(self) -> dict[str, Any]:
        """Return the request as a JSON-ready mapping (also how a resumed run is matched)."""
        return {
            "topic": self.topic,
            "to_site": self.to_site,
            "to_topic": self.target_topic,
            "partitions": list(self.partitions) if self.partitions is not None else None,
            "from_time": self.from_time.isoformat() if self.from_time else None,
            "to_time": self.to_time.isoformat() if self.to_time else None,
            "groups": list(self.groups),
            "all_groups": self.all_groups,
            "groups_snapshot": self.groups_snapshot,
            "config": dict(self.config),
        }


@dataclass(frozen=True)
class PlannedFile:
    """One data file to read; ``expected`` is None while the count in the window is unknown."""

    entry: ManifestEntry
    whole: bool
    expected: int | None

    def as_dict(self) -> dict[str, Any]:
        """Return the file as a JSON-ready mapping (the full catalog entry included)."""
        return {"entry": self.entry.as_dict(), "whole": self.whole, "expected": self.expected}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PlannedFile:
        """Return the file stored as ``doc``."""
        return cls(ManifestEntry.from_dict(doc["entry"]), doc["whole"], doc["expected"])


@dataclass(frozen=True)
class PartitionPlan:
    """Files of one partition, in offset order, and the retention gaps inside their range."""

    partition: int
    files: tuple[PlannedFile, ...]
    lost: tuple[Gap, ...] = ()

    @property
    def expected(self) -> int | None:
        """Return the number of records to restore, or None when not yet counted."""
        counts = [f.expected for f in self.files]
        return None if any(c is None for c in counts) else sum(c or 0 for c in counts)

    def as_dict(self) -> dict[str, Any]:
        """Return the partition plan as a JSON-ready mapping."""
        return {
            "partition": self.partition,
            "expected_records": self.expected,
            "files": [f.as_dict() for f in self.files],
            "lost_to_retention": [g.as_dict() for g in self.lost],
        }


@dataclass(frozen=True)
class RestorePlan:
    """Everything the executor does, decided before anything is written."""

    request: RestoreRequest
    store: str
    prefix: str
    topic: TopicInfo
    partitions: tuple[PartitionPlan, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def expected(self) -> int | None:
        """Return the total number of records to restore, or None when not yet counted."""
        counts = [p.expected for p in self.partitions]
        return None if any(c is None for c in counts) else sum(c or 0 for c in counts)

    @property
    def files(self) -> list[PlannedFile]:
        """Return every planned file."""
        return [f for p in self.partitions for f in p.files]

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as one JSON-ready mapping."""
        return {
            "request": self.request.as_dict(),
            "store": self.store,
            "prefix": self.prefix,
            "target_topic": {"name": self.request.target_topic, **self.topic.as_dict()},
            "expected_records": self.expected,
            "files": len(self.files),
            "bytes": sum(f.entry.bytes for f in self.files),
            "partitions": [p.as_dict() for p in self.partitions],
            "warnings": list(self.warnings),
        }


def plan_restore(
    entries: list[ManifestEntry],
    request: RestoreRequest,
    info: TopicInfo | None,
    *,
    now: datetime,
    counts: dict[str, int] | None = None,
    store: str = "",
    prefix: str = "",
    bounds: dict[int, tuple[int, int]] | None = None,
) -> RestorePlan:
    """Return the plan restoring ``request`` from catalog ``entries`` (pure).

    ``info`` is the topic's newest snapshot (partitions, replication, own config); ``counts``
    gives the exact in-window record count of files only partly inside the window; ``bounds``
    (by partition) the offsets each partition's catalog must cover, so that a missing first
    or last entry is warned about. Raises InputError for an unknown topic, unknown partitions,
    an empty range or no records in it.
    """
    window = request.window
    mine = [e for e in entries if e.topic == request.topic]
    if not mine:
        known = sorted({e.topic for e in entries})
        raise InputError(
            f"there is no backup of topic {request.topic!r} in {store}:{prefix}",
            hint=f"Backed-up topics: {', '.join(known[:20]) or 'none'} (`backup list`).",
        )
    backed = sorted({e.partition for e in mine})
    wanted = sorted(set(request.partitions)) if request.partitions is not None else backed
    missing = [p for p in wanted if p not in backed]
    if missing:
        raise InputError(
            f"partitions {missing} of {request.topic!r} are not in the backup",
            hint=f"Backed-up partitions: {backed}.",
        )
    parts = tuple(_plan_partition(mine, p, window, counts or {}) for p in wanted)
    if not any(p.files for p in parts) or _all_counted_zero(parts):
        raise InputError(
            f"no backed-up records of {request.topic!r} fall in the requested time range",
            hint="`backup list` shows each topic's time span; widen --from-time/--to-time.",
        )
    topic, warnings = _target_topic(request, info, backed, parts, now)
    warnings += _catalog_holes(mine, wanted, bounds or {})
    warnings += [
        f"partition {p.partition}: {g.size} offsets ({g.start}-{g.end - 1}) were deleted by "
        "Kafka retention before they were backed up; they cannot be restored"
        for p in parts
        for g in p.lost
    ]
    return RestorePlan(request, store, prefix, topic, parts, tuple(warnings))


def _all_counted_zero(parts: tuple[PartitionPlan, ...]) -> bool:
    return all(p.expected == 0 for p in parts)


def _plan_partition(
    entries: list[ManifestEntry], partition: int, window: TimeWindow, counts: dict[str, int]
) -> PartitionPlan:
    mine = sorted((e for e in entries if e.partition == partition), key=lambda e: e.start_offset)
    files = []
    for e in mine:
        if not e.has_data or not window.overlaps(e.min_timestamp or 0, e.max_timestamp or 0):
            continue
        whole = window.covers(e.min_timestamp or 0, e.max_timestamp or 0)
        expected = e.records if whole else counts.get(e.key or "")
        if expected != 0:
            files.append(PlannedFile(e, whole, expected))
    lost: tuple[Gap, ...] = ()
    if files:
        lo, hi = files[0].entry.start_offset, files[-1].entry.end_offset
        lost = tuple(
            g
            for e in mine
            for g in e.gaps
            if g.reason == GAP_RETENTION and g.end > lo and g.start < hi
        )
    return PartitionPlan(partition, tuple(files), lost)


def _catalog_holes(
    entries: list[ManifestEntry], partitions: list[int], bounds: dict[int, tuple[int, int]]
) -> list[str]:
    """Return warnings for offsets of the restored partitions that no catalog entry covers.

    Such a hole means a catalog entry is missing (deleted or never written): its records, if
    the data file exists, cannot be restored. `backup verify` reports the same holes.
    """
    warnings = []
    for partition in partitions:
        mine = sorted(
            (e for e in entries if e.partition == partition),
            key=lambda e: (e.start_offset, e.end_offset),
        )
        warnings += [
            f"partition {partition}: {hole.describe()}; their records are not restored — "
            "run `backup verify`"
            for hole in coverage_holes(mine, bounds.get(partition))
        ]
    return warnings


def _target_topic(
    request: RestoreRequest,
    info: TopicInfo | None,
    backed: list[int],
    parts: tuple[PartitionPlan, ...],
    now: datetime,
) -> tuple[TopicInfo, list[str]]:
    """Return how to create the target topic if missing, and warnings about it."""
    warnings = []
    if info is None:
        info = TopicInfo(request.topic, max(backed) + 1, DEFAULT_REPLICATION, {})
        warnings.append(
            f"no topic snapshot of {request.topic!r}: a missing target gets {info.partitions} "
            "partitions (highest backed-up partition + 1) and default configuration"
        )
    config = dict(info.config)
    if config.get("message.timestamp.type") == "LogAppendTime":
        warnings.append(
            "the topic used LogAppendTime; the target is created with CreateTime so that the "
            "original timestamps are kept"
        )
    config["message.timestamp.type"] = "CreateTime"
    config.update(dict(request.config))
    oldest = min(
        (
            f.entry.min_timestamp
            for p in parts
            for f in p.files
            if f.entry.min_timestamp is not None
        ),
        default=None,
    )
    retention = int(config.get("retention.ms", str(7 * 86_400_000)))
    too_old = oldest is not None and retention >= 0
    if too_old and ms_to_datetime(oldest or 0) < now - timedelta(milliseconds=retention):
        warnings.append(
            f"records as old as {ms_to_datetime(oldest).isoformat()} exceed the target's "
            f"retention.ms={retention}: Kafka may delete them soon after the restore; "
            "pass --config retention.ms=-1 (or a longer value) to keep them"
        )
    return TopicInfo(
        request.target_topic, info.partitions, info.replication_factor, config
    ), warnings


def plan_from_dict(doc: dict[str, Any], request: RestoreRequest) -> RestorePlan:
    """Return a plan stored with :meth:`RestorePlan.as_dict` (for resuming a restore)."""
    target = doc["target_topic"]
    topic = TopicInfo(
        target["name"],
        int(target["partitions"]),
        int(target["replication_factor"]),
        target["config"],
    )
    parts = tuple(
        PartitionPlan(
            p["partition"],
            tuple(PlannedFile.from_dict(f) for f in p["files"]),
            tuple(Gap(g["start"], g["end"], g["reason"]) for g in p["lost_to_retention"]),
        )
        for p in doc["partitions"]
    )
    return RestorePlan(request, doc["store"], doc["prefix"], topic, parts, tuple(doc["warnings"]))
