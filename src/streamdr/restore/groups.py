"""Consumer-group admin on one site: list, state, committed offsets, alter, offsets by time."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException
from confluent_kafka import TopicPartition as KafkaTP
from confluent_kafka.admin import OffsetSpec

from streamdr.backup.model import TopicPartition
from streamdr.errors import InputError, StateError, StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import translate

INACTIVE_STATES = frozenset({"EMPTY", "DEAD", "UNKNOWN"})


def wait_for(admin: KafkaAdmin, fut: Future[Any], action: str) -> Any:
    """Return the result of an admin future; Kafka failures become streamdr errors."""
    try:
        return fut.result(timeout=admin.timeout + 5)
    except KafkaException as exc:
        raise translate(exc, admin.site_name, admin.site, action) from exc
    except TimeoutError as exc:
        timed_out = KafkaException(KafkaError(KafkaError._TIMED_OUT))
        raise translate(timed_out, admin.site_name, admin.site, action) from exc


class GroupAdmin:
    """Consumer-group operations through one site's KafkaAdmin (lazy, like it)."""

    def __init__(self, admin: KafkaAdmin) -> None:
        self.admin = admin

    def _wait(self, fut: Future[Any], action: str) -> Any:
        return wait_for(self.admin, fut, action)

    def groups(self) -> list[str]:
        """Return the ids of every consumer group on the site, sorted."""
        fut = self.admin.client.list_consumer_groups(request_timeout=self.admin.timeout)
        result = self._wait(fut, "listing consumer groups")
        return sorted(g.group_id for g in result.valid)

    def state(self, group: str) -> tuple[str, int]:
        """Return the group's state name (e.g. EMPTY, STABLE) and its member count."""
        futures = self.admin.client.describe_consumer_groups(
            [group], request_timeout=self.admin.timeout
        )
        desc = self._wait(futures[group], f"describing group {group}")
        return desc.state.name, len(desc.members)

    def require_inactive(self, group: str) -> None:
        """Raise StateError when ``group`` has members (offsets of an active group stay put)."""
        state, members = self.state(group)
        if members or state not in INACTIVE_STATES:
            raise StateError(
                f"consumer group {group!r} is active ({state}, {members} members); "
                "its offsets cannot be changed while it consumes",
                hint="Stop every consumer of the group, wait for it to become EMPTY, then rerun.",
            )

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """Return the group's committed offsets (next offset to read) on every partition."""
        req = [ConsumerGroupTopicPartitions(group)]
        futures = self.admin.client.list_consumer_group_offsets(
            req, request_timeout=self.admin.timeout
        )
        result = self._wait(futures[group], f"listing offsets of group {group}")
        return {
            TopicPartition(tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions
            if tp.offset >= 0 and tp.error is None
        }

    def alter(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        """Set the group's committed offsets; raises StreamdrError when Kafka refuses."""
        if not offsets:
            return
        parts = [KafkaTP(tp.topic, tp.partition, off) for tp, off in sorted(offsets.items())]
        futures = self.admin.client.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, parts)], request_timeout=self.admin.timeout
        )
        result = self._wait(futures[group], f"altering offsets of group {group}")
        bad = [
            f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in result.topic_partitions if tp.error
        ]
        if bad:
            raise StreamdrError(
                f"Kafka refused offsets of group {group!r}: {', '.join(bad)}",
                hint="Check that the group is EMPTY and the topic exists.",
            )

    def partitions(self, topic: str) -> list[int]:
        """Return the partition numbers of ``topic``; raises InputError if it does not exist."""
        state = self.admin.topic(topic)
        if state is None:
            raise InputError(
                f"topic {topic!r} does not exist on site {self.admin.site_name!r}",
                hint="Check the name (`--topic`) and the site (`--site`).",
            )
        return [p.partition for p in state.partitions]

    def offsets_for_time(self, topic: str, timestamp_ms: int) -> dict[int, int]:
        """Return per partition the first offset with a timestamp >= ``timestamp_ms``.

        A partition with no such record gets its log-end offset (like kafka-consumer-groups).
        """
        parts = self.partitions(topic)
        req = {KafkaTP(topic, p): OffsetSpec.for_timestamp(timestamp_ms) for p in parts}
        futures = self.admin.client.list_offsets(req, request_timeout=self.admin.timeout)
        found = {
            tp.partition: self._wait(f, "listing offsets by time").offset
            for tp, f in futures.items()
        }
        ends = self.admin.end_offsets(topic) if any(o < 0 for o in found.values()) else {}
        return {p: (o if o >= 0 else ends[p]) for p, o in sorted(found.items())}
