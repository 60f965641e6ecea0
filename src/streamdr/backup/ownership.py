"""Per-partition write leases: each partition's catalog has exactly one writer at a time.

Backups that scale out share partitions through a Kafka consumer group, but group membership
alone cannot fence a writer: a process that stalled (GC, SIGSTOP, a network partition) may
still believe it owns a partition the group has given to another. So every partition's catalog
is guarded by a lease in the metadata DB, held by one process. A new owner claims the lease
before it reads the catalog's progress; the writer checks the lease (with a safety margin)
before every catalog write, and a process whose lease was taken over stops writing. A one-shot
run takes the same leases, so it cannot interleave with scaled-out continuous runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from streamdr.backup.history import Lease, owner_id
from streamdr.backup.model import TopicPartition
from streamdr.errors import StateError, StreamdrError
from streamdr.store.db import MetadataStore

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

PARTITION_LEASE_TTL = timedelta(seconds=30)
# A write starts only while the lease is valid for this much longer, so that a writer that
# stalls between the check and the write still finishes before anyone may take over.
FENCE_MARGIN = timedelta(seconds=10)


class NotOwnerError(StateError):
    """This process no longer holds the lease of a partition it was writing (it was fenced)."""


def partition_lease_name(store: str, prefix: str, tp: TopicPartition) -> str:
    """Return the lease name guarding one partition of a backup (store, prefix, partition)."""
    return f"{store}:{prefix}#{tp.topic}/{tp.partition}"


class PartitionLeases:
    """The partition leases this process holds for one backup (store + prefix)."""

    def __init__(
        self,
        db: MetadataStore,
        store: str,
        prefix: str,
        *,
        owner: str | None = None,
        ttl: timedelta = PARTITION_LEASE_TTL,
        margin: timedelta = FENCE_MARGIN,
    ) -> None:
        self.db = db
        self.store = store
        self.prefix = prefix
        self.owner = owner or owner_id()
        self.ttl = ttl
        self.margin = margin
        self._held: dict[TopicPartition, Lease] = {}
        self._lock = threading.RLock()
        self.lost: list[TopicPartition] = []

    @property
    def owned(self) -> set[TopicPartition]:
        """Return the partitions whose lease this process holds."""
        return set(self._held)

    def _lease(self, tp: TopicPartition) -> Lease:
        name = partition_lease_name(self.store, self.prefix, tp)
        return Lease(self.db, name, owner=self.owner, ttl=self.ttl)

    def claim(
        self, tps: Iterable[TopicPartition], now: datetime | None = None
    ) -> tuple[list[TopicPartition], list[TopicPartition]]:
        """Take the leases that are free; return (claimed, held by another live process)."""
        claimed, blocked = [], []
        for tp in sorted(tps):
            with self._lock:
                lease = self._held.get(tp) or self._lease(tp)
                try:
                    lease.acquire(now)
                except StateError:
                    blocked.append(tp)
                    continue
                self._held[tp] = lease
            claimed.append(tp)
        return claimed, blocked

    def claim_all(self, tps: Iterable[TopicPartition]) -> None:
        """Take every lease or none; raises StateError naming a partition another run writes."""
        wanted = list(tps)
        claimed, blocked = self.claim(wanted)
        if blocked:
            self.release(claimed)
            raise StateError(
                f"another backup run is writing {blocked[0]} of {self.store}:{self.prefix} "
                f"({len(blocked)} of {len(wanted)} partitions are taken)",
                hint="Wait for it to finish, or stop the scaled-out `backup run --continuous "
                "--scale-out` processes; a crashed run's leases expire within "
                f"{int(self.ttl.total_seconds())}s.",
            )

    def renew(self, now: datetime | None = None) -> list[TopicPartition]:
        """Extend every held lease; return the partitions whose lease was taken over (lost)."""
        with self._lock:
            lost = [tp for tp, lease in list(self._held.items()) if not lease.renew(now)]
            for tp in lost:
                del self._held[tp]
            self.lost += lost
        return lost

    def keep_alive(self, stop: threading.Event) -> threading.Thread:
        """Start a thread that renews the leases every third of their TTL until ``stop``.

        A thread of its own, so that a slow upload blocking the consumer loop does not let the
        leases run out; a stalled process stalls this thread too, and is fenced.
        """

        def loop() -> None:
            while not stop.wait(self.ttl.total_seconds() / 3):
                try:
                    self.renew()
                except StreamdrError as exc:  # the DB is unreachable: the fence will tell
                    log.warning("renewing backup partition leases failed: %s", exc)

        thread = threading.Thread(target=loop, name="backup-lease-renewer", daemon=True)
        thread.start()
        return thread

    def check(self, tp: TopicPartition, now: datetime | None = None) -> None:
        """Return if this process may write ``tp``'s catalog now; raises NotOwnerError if not."""
        with self._lock:
            lease = self._held.get(tp)
        if lease is None or not lease.held(now, self.margin):
            raise NotOwnerError(
                f"this backup process no longer holds the lease of {tp} "
                f"({self.store}:{self.prefix}): another process took it over",
                hint="The process stalled longer than the lease lasts; restart it, it rejoins "
                "the group and resumes where the catalog ends.",
            )

    def release(self, tps: Iterable[TopicPartition]) -> None:
        """Give up the leases of ``tps`` (their files must already be durable)."""
        for tp in list(tps):
            with self._lock:
                lease = self._held.pop(tp, None)
            if lease is not None:
                lease.release()

    def release_all(self) -> None:
        """Give up every lease held."""
        self.release(list(self._held))
