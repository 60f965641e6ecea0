"""Moving a stopped workflow's consumer group back to a point in time (Scenario 1, step 4).

The group must be empty (its workers stopped): Kafka refuses commits from outside a live group,
and a running worker would overwrite the rewind with its next commit anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import ConsumerGroupState, KafkaException, TopicPartition

from streamdr.errors import StateError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import make_consumer, translate
from streamdr.settings.model import SiteSettings


@dataclass(frozen=True)
class Rewound:
    """One partition moved: from its committed offset to the first offset at the time."""

    topic: str
    partition: int
    before: int | None
    after: int


def group_state(admin: KafkaAdmin, group: str) -> str:
    """Return the group's state name (``EMPTY``, ``STABLE``, ``DEAD`` …)."""
    futures = admin.client.describe_consumer_groups([group], request_timeout=10)
    try:
        desc = futures[group].result(timeout=15)
    except KafkaException as exc:
        raise translate(exc, admin.site_name, admin.site, f"describing group {group}") from exc
    return str(desc.state.name if isinstance(desc.state, ConsumerGroupState) else desc.state)


def rewind_group_to_time(
    site_name: str, site: SiteSettings, group: str, topics: list[str], when: datetime
) -> list[Rewound]:
    """Commit, for every partition of ``topics``, the first offset at or after ``when``.

    Partitions with nothing at or after ``when`` go to their end; a partition whose committed
    offset is already earlier stays where it is (a rewind never skips records). Raises
    StateError when the group still has members, UnreachableError when the site is down.
    """
    admin = KafkaAdmin(site_name, site)
    state = group_state(admin, group)
    if state not in ("EMPTY", "DEAD", "UNKNOWN"):
        raise StateError(
            f"consumer group {group} is {state}: stop its workers before rewinding",
            hint="Stop `streamdr run` for the workflow, then rewind, then start it again.",
        )
    consumer = make_consumer(
        site, group, **{"client.id": f"streamdr-rewind-{uuid.uuid4().hex[:6]}"}
    )
    try:
        ts_ms = int(when.timestamp() * 1000)
        states = [admin.topic(t) for t in topics]
        parts = [
            TopicPartition(st.name, p.partition, ts_ms)
            for st in states
            if st is not None
            for p in st.partitions
        ]
        found = consumer.offsets_for_times(parts, timeout=15)
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in consumer.committed(
                [TopicPartition(t.topic, t.partition) for t in parts], timeout=15
            )
        }
        # Never forward: a partition already behind the time keeps its unprocessed records.
        targets = [
            _earlier(_target(consumer, tp), committed.get((tp.topic, tp.partition))) for tp in found
        ]
        consumer.commit(offsets=targets, asynchronous=False)
    except KafkaException as exc:
        raise translate(exc, site_name, site, f"rewinding group {group}") from exc
    finally:
        consumer.close()
    return [
        Rewound(t.topic, t.partition, _known(committed.get((t.topic, t.partition))), t.offset)
        for t in targets
    ]


def _target(consumer: object, tp: TopicPartition) -> TopicPartition:
    if tp.offset >= 0:
        return TopicPartition(tp.topic, tp.partition, tp.offset)
    _low, high = consumer.get_watermark_offsets(  # type: ignore[attr-defined]
        TopicPartition(tp.topic, tp.partition), timeout=10
    )
    return TopicPartition(tp.topic, tp.partition, high)


def _earlier(target: TopicPartition, committed: int | None) -> TopicPartition:
    if committed is not None and 0 <= committed < target.offset:
        return TopicPartition(target.topic, target.partition, committed)
    return target


def _known(offset: int | None) -> int | None:
    return offset if offset is not None and offset >= 0 else None
