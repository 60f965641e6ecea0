"""Schemas of the JSON documents a backup stores: catalog entries, bounds records, snapshots.

Everything read back from a store is hostile input: a document is accepted only if it has
exactly the shape streamdr writes (no extra fields, JSON types as written, offsets in range,
nesting bounded by the parser), and only up to a size cap read from the store. Parsing returns
the domain values of ``backup.model``; any problem is a ``DocumentError`` (a ValueError) that
the domain store turns into a CorruptBackupError naming the object.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streamdr.backup.layout import TOPIC_RE
from streamdr.backup.model import (
    FORMAT_VERSION,
    Gap,
    GroupOffsets,
    GroupsSnapshot,
    ManifestEntry,
    TopicInfo,
    TopicPartition,
    TopicsSnapshot,
)

MAX_ENTRY_BYTES = 1 << 20
"""A catalog entry is a few hundred bytes; gaps lists stay far below this."""

MAX_SNAPSHOT_BYTES = 64 << 20
"""A snapshot of every group's offsets; 64 MiB is ~1M partition offsets."""

Offset = Annotated[int, Field(ge=0, le=2**63 - 1)]
Timestamp = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Partition = Annotated[int, Field(ge=0, le=2**31 - 1)]
Topic = Annotated[str, Field(pattern=rf"^{TOPIC_RE}$")]
Name = Annotated[str, Field(min_length=1, max_length=4096)]


class DocumentError(ValueError):
    """A stored document does not have the shape streamdr writes."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_D = TypeVar("_D", bound=_Doc)


class _GapDoc(_Doc):
    start: Offset
    end: Offset
    reason: Literal["retention", "absent"]  # GAP_RETENTION, GAP_ABSENT


class _EntryDoc(_Doc):
    format_version: Literal[1] = FORMAT_VERSION
    topic: Topic
    partition: Partition
    start_offset: Offset
    end_offset: Offset
    records: Offset
    first_offset: Offset | None
    last_offset: Offset | None
    min_timestamp: Timestamp | None
    max_timestamp: Timestamp | None
    key: Annotated[str, Field(min_length=1, max_length=2048)] | None
    bytes: Offset = 0
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None
    gaps: Annotated[list[_GapDoc], Field(max_length=10_000)]
    absent: Offset = 0
    written_at: Annotated[str, Field(max_length=64)] = ""


class _BoundsDoc(_Doc):
    kind: Literal["bounds"]
    topic: Topic
    partition: Partition
    start_offset: Offset
    end_offset: Offset
    updated_at: Annotated[str, Field(max_length=64)]


class _TopicDoc(_Doc):
    partitions: Annotated[int, Field(ge=1, le=2**31 - 1)]
    replication_factor: Annotated[int, Field(ge=1, le=2**15 - 1)]
    config: dict[Name, Annotated[str, Field(max_length=1 << 20)]]


class _TopicsDoc(_Doc):
    kind: Literal["topics"]
    id: Annotated[str, Field(max_length=32)]
    site: Name
    taken_at: Annotated[str, Field(max_length=64)]
    topics: dict[Topic, _TopicDoc]


class _GroupDoc(_Doc):
    state: Annotated[str, Field(max_length=64)]
    offsets: dict[Topic, dict[Annotated[str, Field(pattern=r"^\d{1,10}$")], Timestamp]]


class _GroupsDoc(_Doc):
    kind: Literal["groups"]
    id: Annotated[str, Field(max_length=32)]
    site: Name
    taken_at: Annotated[str, Field(max_length=64)]
    groups: dict[Name, _GroupDoc]


def _validate(model: type[_D], raw: bytes) -> _D:
    """Return ``raw`` parsed as ``model``; raises DocumentError naming the first problems."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}"
            for e in exc.errors()[:3]
        )
        raise DocumentError(problems) from exc


def _time(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DocumentError(f"taken_at: {text!r} is not an ISO 8601 time") from exc
    if ts.tzinfo is None:
        raise DocumentError(f"taken_at: {text!r} has no time zone")
    return ts


def parse_entry(raw: bytes) -> ManifestEntry:
    """Return the catalog entry stored as ``raw``; raises DocumentError when malformed."""
    doc = _validate(_EntryDoc, raw)
    return ManifestEntry(
        topic=doc.topic,
        partition=doc.partition,
        start_offset=doc.start_offset,
        end_offset=doc.end_offset,
        records=doc.records,
        first_offset=doc.first_offset,
        last_offset=doc.last_offset,
        min_timestamp=doc.min_timestamp,
        max_timestamp=doc.max_timestamp,
        key=doc.key,
        bytes=doc.bytes,
        sha256=doc.sha256,
        gaps=tuple(Gap(g.start, g.end, g.reason) for g in doc.gaps),
        absent=doc.absent,
        written_at=doc.written_at,
        format_version=doc.format_version,
    )


def parse_bounds(raw: bytes) -> tuple[TopicPartition, int, int]:
    """Return (partition, start, end) of a bounds record; raises DocumentError when malformed."""
    doc = _validate(_BoundsDoc, raw)
    if doc.end_offset < doc.start_offset:
        raise DocumentError(f"bounds {doc.start_offset}-{doc.end_offset} are reversed")
    return TopicPartition(doc.topic, doc.partition), doc.start_offset, doc.end_offset


def parse_topics_snapshot(raw: bytes) -> TopicsSnapshot:
    """Return the topics snapshot stored as ``raw``; raises DocumentError when malformed."""
    doc = _validate(_TopicsDoc, raw)
    topics = {
        n: TopicInfo(n, t.partitions, t.replication_factor, dict(t.config))
        for n, t in doc.topics.items()
    }
    return TopicsSnapshot(doc.id, doc.site, _time(doc.taken_at), topics)


def parse_groups_snapshot(raw: bytes) -> GroupsSnapshot:
    """Return the groups snapshot stored as ``raw``; raises DocumentError when malformed."""
    doc = _validate(_GroupsDoc, raw)
    groups = {
        name: GroupOffsets(
            name,
            g.state,
            {
                TopicPartition(topic, int(p)): offset
                for topic, parts in g.offsets.items()
                for p, offset in parts.items()
            },
        )
        for name, g in doc.groups.items()
    }
    return GroupsSnapshot(doc.id, doc.site, _time(doc.taken_at), groups)
