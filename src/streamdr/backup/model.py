"""Domain values of a backup: catalog entries, gaps, topic and consumer-group snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamdr.clock import as_utc

FORMAT_VERSION = 1

GAP_RETENTION = "retention"
"""Offsets Kafka had already deleted (retention) before the backup read them: data lost."""

GAP_ABSENT = "absent"
"""Offsets that hold no readable record (compacted away, transaction markers, aborted records)."""


@dataclass(frozen=True, order=True)
class TopicPartition:
    """A topic and a partition number."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


@dataclass(frozen=True)
class Gap:
    """A run of offsets ``[start, end)`` with no record in the backup, and why."""

    start: int
    end: int
    reason: str

    @property
    def size(self) -> int:
        """Return how many offsets the gap spans."""
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        """Return the gap as a JSON-ready mapping."""
        return {"start": self.start, "end": self.end, "reason": self.reason}


@dataclass(frozen=True)
class ManifestEntry:
    """One catalog entry: it covers offsets ``[start_offset, end_offset)`` of one partition.

    ``records + absent + sum(gap sizes) == end_offset - start_offset``. An entry without ``key``
    is a gap entry (no data file): offsets that were gone before the backup could read them.
    """

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    records: int
    first_offset: int | None = None
    last_offset: int | None = None
    min_timestamp: int | None = None
    max_timestamp: int | None = None
    key: str | None = None
    bytes: int = 0
    sha256: str | None = None
    gaps: tuple[Gap, ...] = ()
    absent: int = 0
    written_at: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def tp(self) -> TopicPartition:
        """Return the entry's topic-partition."""
        return TopicPartition(self.topic, self.partition)

    @property
    def has_data(self) -> bool:
        """Return True when the entry has a data file."""
        return self.key is not None and self.records > 0

    @property
    def lost(self) -> int:
        """Return how many offsets of this entry were deleted by retention before backup."""
        return sum(g.size for g in self.gaps if g.reason == GAP_RETENTION)

    def balanced(self) -> bool:
        """Return True when records, absent offsets and gaps add up to the covered range."""
        covered = self.records + self.absent + sum(g.size for g in self.gaps)
        return covered == self.end_offset - self.start_offset

    def as_dict(self) -> dict[str, Any]:
        """Return the entry as the JSON document stored in the catalog."""
        return {
            "format_version": self.format_version,
            "topic": self.topic,
            "partition": self.partition,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "records": self.records,
            "first_offset": self.first_offset,
            "last_offset": self.last_offset,
            "min_timestamp": self.min_timestamp,
            "max_timestamp": self.max_timestamp,
            "key": self.key,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "gaps": [g.as_dict() for g in self.gaps],
            "absent": self.absent,
            "written_at": self.written_at,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ManifestEntry:
        """Return the entry stored as ``doc``; raises KeyError/TypeError/ValueError if malformed."""
        return cls(
            topic=str(doc["topic"]),
            partition=int(doc["partition"]),
            start_offset=int(doc["start_offset"]),
            end_offset=int(doc["end_offset"]),
            records=int(doc["records"]),
            first_offset=_opt_int(doc.get("first_offset")),
            last_offset=_opt_int(doc.get("last_offset")),
            min_timestamp=_opt_int(doc.get("min_timestamp")),
            max_timestamp=_opt_int(doc.get("max_timestamp")),
            key=doc.get("key"),
            bytes=int(doc.get("bytes", 0)),
            sha256=doc.get("sha256"),
            gaps=tuple(Gap(int(g["start"]), int(g["end"]), str(g["reason"])) for g in doc["gaps"]),
            absent=int(doc.get("absent", 0)),
            written_at=str(doc.get("written_at", "")),
            format_version=int(doc.get("format_version", FORMAT_VERSION)),
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class TopicInfo:
    """What a restore needs to recreate a topic: partitions, replication and its own config."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the topic as a JSON-ready mapping."""
        return {
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "config": dict(self.config),
        }


@dataclass(frozen=True)
class TopicsSnapshot:
    """Every backed-up topic's partition count and configuration at one moment."""

    snapshot_id: str
    site: str
    taken_at: datetime
    topics: dict[str, TopicInfo]

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as the JSON document stored next to the backup."""
        return {
            "kind": "topics",
            "id": self.snapshot_id,
            "site": self.site,
            "taken_at": self.taken_at.isoformat(),
            "topics": {n: t.as_dict() for n, t in self.topics.items()},
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TopicsSnapshot:
        """Return the snapshot stored as ``doc``."""
        return cls(
            snapshot_id=doc["id"],
            site=doc["site"],
            taken_at=_parse_time(doc["taken_at"]),
            topics={
                n: TopicInfo(n, int(t["partitions"]), int(t["replication_factor"]), t["config"])
                for n, t in doc["topics"].items()
            },
        )


@dataclass(frozen=True)
class GroupOffsets:
    """One consumer group's committed offsets (next offset to read) and its state then."""

    group: str
    state: str
    offsets: dict[TopicPartition, int]

    def for_topic(self, topic: str) -> dict[int, int]:
        """Return ``{partition: committed offset}`` of one topic."""
        return {tp.partition: o for tp, o in self.offsets.items() if tp.topic == topic}

    def as_dict(self) -> dict[str, Any]:
        """Return the group as a JSON-ready mapping (topic → partition → offset)."""
        by_topic: dict[str, dict[str, int]] = {}
        for tp, offset in sorted(self.offsets.items()):
            by_topic.setdefault(tp.topic, {})[str(tp.partition)] = offset
        return {"state": self.state, "offsets": by_topic}


@dataclass(frozen=True)
class GroupsSnapshot:
    """Every consumer group's committed offsets at one moment."""

    snapshot_id: str
    site: str
    taken_at: datetime
    groups: dict[str, GroupOffsets]

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as the JSON document stored next to the backup."""
        return {
            "kind": "groups",
            "id": self.snapshot_id,
            "site": self.site,
            "taken_at": self.taken_at.isoformat(),
            "groups": {g: o.as_dict() for g, o in self.groups.items()},
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> GroupsSnapshot:
        """Return the snapshot stored as ``doc``."""
        groups = {
            name: GroupOffsets(
                name,
                g["state"],
                {
                    TopicPartition(topic, int(p)): int(o)
                    for topic, parts in g["offsets"].items()
                    for p, o in parts.items()
                },
            )
            for name, g in doc["groups"].items()
        }
        return cls(doc["id"], doc["site"], _parse_time(doc["taken_at"]), groups)


def _parse_time(text: str) -> datetime:  # stored times (always with zone)
    return as_utc(datetime.fromisoformat(text))
