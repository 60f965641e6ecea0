"""Reading MM2's internal topics and consumer-group state from a live site.

Internal topics are read like ``MirrorClient.remoteConsumerOffsets`` does: assign partition 0,
start at the beginning, stop at the end offset sampled first. Malformed records are skipped and
counted (MM2 logs and skips them too).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from streamdr.errors import StateError, UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import make_consumer, translate
from streamdr.replication.mm2.records import (
    Checkpoint,
    Heartbeat,
    OffsetSync,
    RecordFormatError,
    parse_checkpoint,
    parse_heartbeat,
    parse_offset_sync,
)
from streamdr.settings.model import SiteSettings

T = TypeVar("T")
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RawRecord:
    """One record of an internal topic, as bytes."""

    offset: int
    key: bytes
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """Records decoded from one topic, and how many were skipped as malformed."""

    records: list[T]
    skipped: int
    raw: list[RawRecord]


def read_raw(
    site_name: str,
    site: SiteSettings,
    topic: str,
    *,
    tail: int | None = None,
    timeout: float = READ_TIMEOUT_S,
) -> list[RawRecord]:
    """Return the records of partition 0 of ``topic`` up to its current end (the last ``tail``).

    Returns [] when the topic does not exist; raises UnreachableError when the site is down.
    """
    admin = KafkaAdmin(site_name, site, timeout=min(timeout, 10.0))
    state = admin.topic(topic)
    if state is None:
        return []
    end = admin.end_offsets(topic).get(0, 0)
    start = admin.start_offsets(topic).get(0, 0)
    if end <= start:
        return []
    if tail is not None:
        start = max(start, end - tail)
    consumer = make_consumer(site, "streamdr-mm2-reader", **{"enable.partition.eof": True})
    out: list[RawRecord] = []
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, 0, start)])
        while not out or out[-1].offset < end - 1:
            if time.monotonic() > deadline:
                raise UnreachableError(
                    f"reading {topic} on site {site_name!r} timed out after {timeout:.0f}s",
                    hint="Check the site's brokers; the topic has partition 0 offline?",
                )
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise translate(KafkaException(msg.error()), site_name, site, f"reading {topic}")
            out.append(
                RawRecord(msg.offset(), msg.key() or b"", msg.value() or b"", msg.timestamp()[1])
            )
    finally:
        consumer.close()
    return out


def _parse(raw: list[RawRecord], parser: Callable[[bytes, bytes], T]) -> Parsed[T]:
    records, skipped = [], 0
    for r in raw:
        try:
            records.append(parser(r.key, r.value))
        except RecordFormatError:
            skipped += 1
    return Parsed(records, skipped, raw)


def read_checkpoints(site_name: str, site: SiteSettings, topic: str) -> Parsed[Checkpoint]:
    """Return the checkpoints in ``topic`` on a target site, in write order."""
    return _parse(read_raw(site_name, site, topic), parse_checkpoint)


def read_offset_syncs(site_name: str, site: SiteSettings, topic: str) -> Parsed[OffsetSync]:
    """Return the offset syncs in ``topic`` on a source site, in write order."""
    return _parse(read_raw(site_name, site, topic), parse_offset_sync)


def read_heartbeats(
    site_name: str, site: SiteSettings, topic: str, *, tail: int | None = None
) -> Parsed[Heartbeat]:
    """Return the heartbeats in ``topic`` (the last ``tail``), in write order."""
    return _parse(read_raw(site_name, site, topic, tail=tail), parse_heartbeat)


@dataclass(frozen=True)
class GroupState:
    """A consumer group on one site: its state, member count and committed offsets."""

    group: str
    state: str  # EMPTY, STABLE, DEAD, … (Kafka's names, lower-case)
    members: int
    offsets: dict[tuple[str, int], int]

    @property
    def active(self) -> bool:
        """Return True when the group has members (a commit from outside would be refused)."""
        return self.members > 0


def describe_group(admin: KafkaAdmin, group: str) -> GroupState:
    """Return a group's state and committed offsets; raises UnreachableError/StreamdrError."""
    client = admin.client
    try:
        desc = client.describe_consumer_groups([group], request_timeout=admin.timeout)[group]
        info = desc.result(timeout=admin.timeout + 5)
        fut = client.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=admin.timeout
        )[group]
        listed = fut.result(timeout=admin.timeout + 5)
    except KafkaException as exc:
        raise translate(exc, admin.site_name, admin.site, f"describing group {group}") from exc
    offsets = {
        (tp.topic, tp.partition): tp.offset
        for tp in listed.topic_partitions or []
        if tp.offset is not None and tp.offset >= 0
    }
    state = str(getattr(info.state, "name", info.state)).lower()
    return GroupState(group, state, len(info.members or []), offsets)


def commit_group_offsets(
    admin: KafkaAdmin, group: str, offsets: dict[tuple[str, int], int]
) -> None:
    """Commit ``offsets`` for ``group`` (which must be empty); raises StateError if refused."""
    if not offsets:
        return
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    )
    try:
        fut = admin.client.alter_consumer_group_offsets([request], request_timeout=admin.timeout)
        fut[group].result(timeout=admin.timeout + 5)
    except KafkaException as exc:
        err = translate(exc, admin.site_name, admin.site, f"committing offsets of group {group}")
        if isinstance(err, UnreachableError):
            raise err from exc
        raise StateError(
            f"site {admin.site_name!r} refused the offsets of group {group!r}: {err.message}",
            hint="A group must have no active members to have its offsets set; stop its "
            "consumers and retry.",
        ) from exc


def end_offsets_many(admin: KafkaAdmin, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """Return end offsets of every partition of the existing ``topics``."""
    out: dict[tuple[str, int], int] = {}
    existing = admin.metadata().topics
    for topic in topics:
        if topic in existing:
            out.update({(topic, p): o for p, o in admin.end_offsets(topic).items()})
    return out
