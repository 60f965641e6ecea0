"""Backups that scale out: N continuous processes share partitions through a consumer group.

Kafka's group protocol (cooperative-sticky, so a rebalance moves only the partitions that
change owner) decides which process backs up which partition; a per-partition lease
(`ownership.PartitionLeases`) fences the catalog. The hand-over keeps the catalog gapless and
without overlap because a new owner reads the catalog's progress only after it holds the
lease, and a process gives a lease up only after its files of that partition are durable:

- revoked (rebalance, shutdown): roll the partition's buffer, wait until every submitted file
  is written, release the lease;
- the process died (kill -9): its buffers are lost and re-read by the new owner from the end of
  the catalog; a data file it wrote without an entry is deleted by the new owner; its lease is
  taken over at once on the same host (the pid is gone) or after the lease TTL elsewhere;
- the process stalled and lost its lease: the fence check before every write stops it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition as KafkaTP

from streamdr.backup import catalog
from streamdr.backup.model import ManifestEntry, TopicPartition
from streamdr.backup.ownership import PartitionLeases
from streamdr.backup.resume import plan_starts, remove_uncommitted
from streamdr.backup.store import BackupStore
from streamdr.backup.writer import (
    CONSUMER_CONF,
    FileWriter,
    PartitionWriter,
    RollPolicy,
    StartPosition,
    WriterStats,
    _Partition,
)
from streamdr.errors import StateError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import make_consumer
from streamdr.settings.model import SiteSettings

log = logging.getLogger(__name__)

ASSIGNMENT_STRATEGY = "cooperative-sticky"
PENDING_RETRY_S = 2.0


@dataclass
class ClaimLog:
    """What the partition claims of one process did (for the run summary)."""

    claimed: set[TopicPartition] = field(default_factory=set)
    handed_over: int = 0
    removed_uncommitted: list[str] = field(default_factory=list)
    gaps: list[ManifestEntry] = field(default_factory=list)


class PartitionClaims:
    """Takes partitions the group assigns: lease, clean-up, retention gaps, resume offset."""

    def __init__(
        self, stores: list[BackupStore], admin: KafkaAdmin, leases: PartitionLeases
    ) -> None:
        self.stores = stores
        self.admin = admin
        self.leases = leases
        self.log = ClaimLog()

    def claim(self, tps: list[TopicPartition]) -> tuple[list[StartPosition], list[TopicPartition]]:
        """Return where each claimed partition resumes, and the partitions still leased to
        another live process (to retry). Raises StateError for a recreated topic and
        UnreachableError when the site or a store fails."""
        claimed, blocked = self.leases.claim(tps)
        starts: list[StartPosition] = []
        for topic in sorted({tp.topic for tp in claimed}):
            mine = {tp for tp in claimed if tp.topic == topic}
            starts += self._prepare(topic, mine)
        self.log.claimed |= set(claimed)
        return starts, blocked

    def _prepare(self, topic: str, mine: set[TopicPartition]) -> list[StartPosition]:
        entries = [e for e in self.stores[0].manifests(topic) if e.tp in mine]
        self.log.removed_uncommitted += remove_uncommitted(self.stores, entries, [topic], mine)
        log_starts = {
            tp: off
            for p, off in self.admin.start_offsets(topic).items()
            if (tp := TopicPartition(topic, p)) in mine
        }
        ends = self.admin.end_offsets(topic)
        log_ends = {TopicPartition(topic, p): off for p, off in ends.items()}
        starts, gaps = plan_starts(catalog.progress(entries), log_starts, log_ends, True)
        for gap in gaps:
            for store in self.stores:
                store.put_entry(gap)
        self.log.gaps += gaps
        return starts

    def release(self, tps: list[TopicPartition]) -> None:
        """Give up the leases of partitions whose files are durable."""
        self.leases.release(tps)
        self.log.handed_over += len(tps)


class GroupPartitionWriter(PartitionWriter):
    """A continuous writer whose partitions come and go with the consumer group's assignment."""

    def __init__(
        self,
        site: SiteSettings,
        stores: list[BackupStore],
        roll: RollPolicy,
        claims: PartitionClaims,
        *,
        stop: threading.Event | None = None,
        on_tick: Callable[[WriterStats], None] | None = None,
        session_timeout_ms: int = 10_000,
    ) -> None:
        super().__init__(site, stores, roll, stop=stop, on_tick=on_tick, fence=claims.leases.check)
        self.claims = claims
        self.session_timeout_ms = session_timeout_ms
        self._pending: set[TopicPartition] = set()
        self._writer: FileWriter | None = None
        self._last_retry = time.monotonic()

    def run_group(self, topics: list[str], group_id: str) -> WriterStats:
        """Back up whatever the group assigns until ``stop``; return the counters.

        Raises UnreachableError when the site or a store fails, NotOwnerError when this
        process was fenced; what was cataloged stays, and the leases of durable partitions are
        released so that the other processes take them over.
        """
        conf = {
            **CONSUMER_CONF,
            "partition.assignment.strategy": ASSIGNMENT_STRATEGY,
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(1000, self.session_timeout_ms // 5),
        }
        consumer = make_consumer(self.site, group_id, **conf)
        writer = self._writer = FileWriter(self.stores, self.stats, self.fence)
        writer.start()
        try:
            consumer.subscribe(
                topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
            )
            self._loop(consumer, writer, True)
            for part in self._parts.values():
                self._roll(part, writer)
        finally:
            self._writer = None  # revocations during close only release leases
            try:
                writer.finish()
            finally:
                consumer.close()
                self.claims.leases.release_all()
        return self.stats

    # ----- group callbacks (run inside consume()) -----------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[KafkaTP]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        self._take(consumer, tps)

    def _take(self, consumer: Any, tps: list[TopicPartition]) -> None:
        starts, blocked = self.claims.claim(tps)
        self._pending = (self._pending - set(tps)) | set(blocked)
        for s in starts:
            self._parts[(s.tp.topic, s.tp.partition)] = _Partition(s.tp, s.offset, None)
        # Always call incremental_assign, even with nothing: a partition whose lease is still
        # held elsewhere must not be fetched from the group's (never committed) offset.
        consumer.incremental_assign([KafkaTP(s.tp.topic, s.tp.partition, s.offset) for s in starts])
        if blocked:
            log.info("partitions still leased by another process: %s", blocked)

    def _on_revoke(self, consumer: Any, partitions: list[KafkaTP]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        owned = [tp for tp in tps if (tp.topic, tp.partition) in self._parts]
        if self._writer is not None:
            for tp in owned:
                self._roll(self._parts[(tp.topic, tp.partition)], self._writer)
            self._writer.drain()  # durable before the lease goes
        for tp in owned:
            del self._parts[(tp.topic, tp.partition)]
        self._pending -= set(tps)
        consumer.incremental_unassign([KafkaTP(tp.topic, tp.partition) for tp in owned])
        self.claims.release(owned)

    def _on_lost(self, consumer: Any, partitions: list[KafkaTP]) -> None:
        # Group membership lost (session timeout): the leases still fence the catalog, so
        # writing what was read is safe; the new owner waits for the lease.
        self._on_revoke(consumer, partitions)

    # ----- periodic work ------------------------------------------------------------------
    def _housekeeping(self, consumer: Any, now: float) -> None:
        lost = self.claims.leases.lost
        if lost:
            raise StateError(
                f"the leases of {', '.join(map(str, lost))} were taken over while this "
                "process still had them assigned",
                hint="The process stalled longer than the lease lasts; it stops so that "
                "one writer remains. Restart it: it rejoins the group.",
            )
        if self._pending and now - self._last_retry >= PENDING_RETRY_S:
            self._last_retry = now
            self._take(consumer, sorted(self._pending))
