"""A typed admin view of one Kafka site: metadata, configs, topic changes, offsets."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)

from streamdr.errors import StreamdrError
from streamdr.kafka.clients import make_admin, translate
from streamdr.settings.model import SiteSettings


@dataclass(frozen=True)
class PartitionState:
    """Leader, replicas and in-sync replicas of one partition."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def offline(self) -> bool:
        """Return True when the partition has no leader."""
        return self.leader < 0

    @property
    def under_replicated(self) -> bool:
        """Return True when fewer replicas are in sync than assigned."""
        return len(self.isr) < len(self.replicas)


@dataclass(frozen=True)
class TopicState:
    """One topic and its partitions."""

    name: str
    partitions: tuple[PartitionState, ...]

    @property
    def replication_factor(self) -> int:
        """Return the smallest replica count over the topic's partitions."""
        return min((len(p.replicas) for p in self.partitions), default=0)

    @property
    def internal(self) -> bool:
        """Return True for Kafka's own topics (``__consumer_offsets`` and friends)."""
        return self.name.startswith("__")


@dataclass(frozen=True)
class Broker:
    """A broker in the cluster metadata."""

    node_id: int
    host: str
    port: int


@dataclass(frozen=True)
class ClusterMetadata:
    """What one metadata request says about a cluster."""

    cluster_id: str | None
    controller_id: int
    brokers: tuple[Broker, ...]
    topics: Mapping[str, TopicState] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)
    # Explicit replicas per partition (first = preferred leader); None lets Kafka place them.
    assignment: list[list[int]] | None = None


class KafkaAdmin:
    """Admin operations on one site; the AdminClient is created on first use."""

    def __init__(self, site_name: str, site: SiteSettings, *, timeout: float = 10.0) -> None:
        self.site_name = site_name
        self.site = site
        self.timeout = timeout
        self._client: AdminClient | None = None

    @property
    def client(self) -> AdminClient:
        """Return the underlying AdminClient, creating it on first use."""
        if self._client is None:
            self._client = make_admin(self.site)
        return self._client

    def _wait(self, fut: Future[Any], action: str) -> Any:
        try:
            return fut.result(timeout=self.timeout + 5)
        except KafkaException as exc:
            raise translate(exc, self.site_name, self.site, action) from exc
        except TimeoutError as exc:
            raise translate(
                KafkaException(KafkaError(KafkaError._TIMED_OUT)), self.site_name, self.site, action
            ) from exc

    def metadata(self, timeout: float | None = None) -> ClusterMetadata:
        """Return brokers and topics; raises UnreachableError when the site does not answer."""
        try:
            md = self.client.list_topics(timeout=timeout or self.timeout)
        except KafkaException as exc:
            self.client.poll(0)  # serves error_cb: a refused SASL login is only reported there
            raise translate(exc, self.site_name, self.site, "reading metadata") from exc
        topics = {
            name: TopicState(
                name,
                tuple(
                    PartitionState(name, p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
                    for p in sorted(t.partitions.values(), key=lambda p: p.id)
                ),
            )
            for name, t in md.topics.items()
            if t.error is None or t.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART
        }
        brokers = tuple(
            Broker(b.id, b.host, b.port) for b in sorted(md.brokers.values(), key=lambda b: b.id)
        )
        return ClusterMetadata(md.cluster_id, md.controller_id, brokers, topics)

    def topic(self, name: str) -> TopicState | None:
        """Return one topic's state, or None when it does not exist."""
        return self.metadata().topics.get(name)

    def _describe(self, resources: list[ConfigResource], action: str) -> dict[str, dict[str, str]]:
        if not resources:
            return {}
        futures = self.client.describe_configs(resources, request_timeout=self.timeout)
        out: dict[str, dict[str, str]] = {}
        for res, fut in futures.items():
            entries = self._wait(fut, action)
            out[res.name] = {k: e.value for k, e in entries.items() if e.value is not None}
        return out

    def topic_configs(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """Return the effective configuration of each named topic."""
        res = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
        return self._describe(res, "describing topic configs")

    def broker_configs(self, node_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """Return the effective configuration of each named broker."""
        # Kafka accepts one BROKER resource per DescribeConfigs request.
        out: dict[int, dict[str, str]] = {}
        for node in node_ids:
            res = ConfigResource(ConfigResource.Type.BROKER, str(node))
            out.update(
                {int(k): v for k, v in self._describe([res], "describing broker configs").items()}
            )
        return out

    def create_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create topics and wait for the result; raises StreamdrError on refusal."""
        new = [_new_topic(s) for s in specs]
        if not new:
            return
        for name, fut in self.client.create_topics(new, request_timeout=self.timeout).items():
            self._wait(fut, f"creating topic {name}")

    def alter_topic_config(self, name: str, changes: Mapping[str, str]) -> None:
        """Set topic config keys incrementally (other keys are untouched)."""
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in changes.items()
        ]
        res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
        for fut in self.client.incremental_alter_configs([res]).values():
            self._wait(fut, f"altering config of topic {name}")

    def add_partitions(self, name: str, total: int) -> None:
        """Grow ``name`` to ``total`` partitions (Kafka cannot shrink a topic)."""
        futures = self.client.create_partitions(
            [NewPartitions(name, total)], request_timeout=self.timeout
        )
        for fut in futures.values():
            self._wait(fut, f"adding partitions to {name}")

    def delete_topics(self, names: Iterable[str]) -> None:
        """Delete topics and wait for the deletion to be accepted."""
        names = list(names)
        if not names:
            return
        for name, fut in self.client.delete_topics(names, request_timeout=self.timeout).items():
            self._wait(fut, f"deleting topic {name}")

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Return the log-end offset of every partition of ``topic``."""
        return self._offsets(topic, OffsetSpec.latest())

    def start_offsets(self, topic: str) -> dict[int, int]:
        """Return the log-start offset of every partition of ``topic``."""
        return self._offsets(topic, OffsetSpec.earliest())

    def _offsets(self, topic: str, spec: OffsetSpec) -> dict[int, int]:
        state = self.topic(topic)
        if state is None:
            raise StreamdrError(f"topic {topic!r} does not exist on site {self.site_name!r}")
        req = {TopicPartition(topic, p.partition): spec for p in state.partitions}
        futures = self.client.list_offsets(req, request_timeout=self.timeout)
        return {tp.partition: self._wait(f, "listing offsets").offset for tp, f in futures.items()}

    def wait_until(
        self, predicate: Any, *, timeout: float, what: str, interval: float = 0.5
    ) -> float:
        """Poll ``predicate(metadata)`` until true; return seconds waited.

        Raises StreamdrError naming ``what`` after ``timeout`` seconds.
        """
        start = time.monotonic()
        while True:
            try:
                if predicate(self.metadata(timeout=min(5.0, timeout))):
                    return time.monotonic() - start
            except StreamdrError:
                pass
            if time.monotonic() - start > timeout:
                raise StreamdrError(
                    f"timed out after {timeout:.0f}s waiting for {what} on site {self.site_name!r}",
                    hint="Check the broker logs (`streamdr lab status` shows where they are).",
                )
            time.sleep(interval)


def _new_topic(spec: TopicSpec) -> NewTopic:
    if spec.assignment is not None:
        return NewTopic(
            spec.name,
            num_partitions=len(spec.assignment),
            replica_assignment=spec.assignment,
            config=dict(spec.config),
        )
    return NewTopic(
        spec.name,
        num_partitions=spec.partitions,
        replication_factor=spec.replication_factor,
        config=dict(spec.config),
    )
