"""Topics the pipeline writes (change topics, DLQs, checkpoints) and reading a topic to its end.

Every topic the pipeline creates follows the HA policy: RF 3 (or the site's broker count when
smaller), ``min.insync.replicas=2``, no unclean leader election.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import stamina
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition

from streamdr.errors import StreamdrError, UnreachableError
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import is_transient, make_consumer, translate
from streamdr.settings.model import SiteSettings

CHECKPOINT_TOPIC = "streamdr.cdc.checkpoints"
DEFAULT_PARTITIONS = 3
DLQ_RETENTION_MS = str(30 * 24 * 3600 * 1000)
TRANSIENT_RETRY_S = 15.0  # how long a leadership move may hold up reading a topic


@dataclass(frozen=True)
class TopicWant:
    """A topic the pipeline needs, with its partition count and extra configs."""

    name: str
    partitions: int = DEFAULT_PARTITIONS
    config: Mapping[str, str] | None = None


def policy_config(brokers: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the HA topic configs for a site with ``brokers`` brokers plus ``extra``."""
    return {
        "min.insync.replicas": str(min(2, brokers)),
        "unclean.leader.election.enable": "false",
        **(extra or {}),
    }


def ensure_topics(admin: KafkaAdmin, wants: list[TopicWant], *, timeout: float = 30.0) -> list[str]:
    """Create the missing topics and wait until they have leaders; return the created names.

    Raises UnreachableError when the site is down, StreamdrError when Kafka refuses.
    """
    md = admin.metadata()
    brokers = len(md.brokers)
    missing = [w for w in wants if w.name not in md.topics]
    specs = [
        TopicSpec(w.name, w.partitions, min(3, brokers), policy_config(brokers, w.config))
        for w in missing
    ]
    try:
        admin.create_topics(specs)
    except StreamdrError as exc:
        # Another process (a second worker, the CDC reader) may have created it meanwhile.
        if "TOPIC_ALREADY_EXISTS" not in exc.message:
            raise
    names = {w.name for w in wants}
    admin.wait_until(
        lambda m: all(
            n in m.topics and not any(p.offline for p in m.topics[n].partitions) for n in names
        ),
        timeout=timeout,
        what=f"topics {sorted(names)}",
        interval=0.2,
    )
    return [s.name for s in specs]


def checkpoint_want() -> TopicWant:
    """Return the compacted, single-partition CDC checkpoint topic."""
    return TopicWant(
        CHECKPOINT_TOPIC,
        partitions=1,
        config={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
    )


def dlq_want(topic: str) -> TopicWant:
    """Return a dead-letter topic (kept 30 days)."""
    return TopicWant(topic, config={"retention.ms": DLQ_RETENTION_MS})


def read_topic(
    site_name: str, site: SiteSettings, topic: str, *, timeout: float = 30.0
) -> Iterator[Message]:
    """Yield every record of ``topic`` from its start to the end offsets seen at the start.

    Raises UnreachableError when the site is down or the end is not reached in ``timeout``.
    """
    consumer = make_consumer(
        site, f"streamdr-reader-{uuid.uuid4().hex[:12]}", **{"isolation.level": "read_committed"}
    )
    try:
        parts = _partitions(consumer, site_name, site, topic)
        ends = {}
        for tp in parts:
            low, high = _watermarks(consumer, tp)
            if high > low:
                ends[tp.partition] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        yield from _drain(consumer, ends, timeout, topic)
    except KafkaException as exc:
        raise translate(exc, site_name, site, f"reading {topic}") from exc
    finally:
        consumer.close()


def _watermarks(consumer: object, tp: TopicPartition) -> tuple[int, int]:
    # A topic created a moment ago, or a partition whose leader just moved, answers
    # NOT_LEADER_FOR_PARTITION until the client's metadata catches up: retry that briefly. The
    # partition was just listed in the cluster's metadata, so UNKNOWN_TOPIC_OR_PART here means its
    # leader has not applied the creation yet (KRaft propagates metadata to brokers one by one;
    # seen in CI through the chaos run's proxies): transient too, within the same bound.
    for attempt in stamina.retry_context(
        on=_listed_partition_not_ready,
        attempts=None,
        timeout=TRANSIENT_RETRY_S,
        wait_initial=0.2,
        wait_max=2.0,
    ):
        with attempt:
            return consumer.get_watermark_offsets(tp, timeout=10)  # type: ignore[attr-defined]
    raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


def _listed_partition_not_ready(exc: Exception) -> bool:
    """Return True for an error a partition seen in metadata a moment ago outgrows."""
    if not isinstance(exc, KafkaException):
        return False
    err = exc.args[0] if exc.args else None
    unknown = isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    return unknown or is_transient(exc)


def _partitions(
    consumer: object, site_name: str, site: SiteSettings, topic: str
) -> list[TopicPartition]:
    md = consumer.list_topics(topic, timeout=10)  # type: ignore[attr-defined]
    meta = md.topics.get(topic)
    if meta is None or (meta.error and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
        return []
    return [TopicPartition(topic, p) for p in sorted(meta.partitions)]


def _drain(consumer: object, ends: dict[int, int], timeout: float, topic: str) -> Iterator[Message]:
    deadline = time.monotonic() + timeout
    remaining = dict(ends)
    while remaining:
        if time.monotonic() > deadline:
            raise UnreachableError(
                f"reading {topic} did not reach its end within {timeout:.0f}s",
                hint="Check that the site's brokers run (`streamdr lab status`).",
            )
        msg = consumer.poll(0.2)  # type: ignore[attr-defined]
        if msg is not None and msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                raise KafkaException(msg.error())
        elif msg is not None and msg.offset() < ends.get(msg.partition(), -1):
            yield msg
        # Positions, not record offsets: transaction markers occupy the last offsets too.
        positions = consumer.position([TopicPartition(topic, p) for p in remaining])  # type: ignore[attr-defined]
        for tp in positions:
            if tp.offset >= remaining[tp.partition]:
                del remaining[tp.partition]
