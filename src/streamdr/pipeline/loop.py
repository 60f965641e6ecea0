"""The one consumer loop every worker runs; what it does with a batch is a processor's job.

The loop owns the consumer: subscription, assignment, revoke and loss, keepalive polls while a
slow batch runs, committing only finished offsets and rewinding to the first unfinished record
of each partition. A :class:`BatchProcessor` (per-event HTTP, batched HTTP, Kafka sink) turns a
batch of records into a :class:`~streamdr.pipeline.progress.BatchResult`. Anything delivered
but not yet committed when the process dies is delivered again and ignored by the endpoint's
idempotency keys (or, for a transactional Kafka sink, was never visible).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streamdr.observe import metrics
from streamdr.pipeline.breaker import OPEN
from streamdr.pipeline.progress import TP, BatchResult

log = logging.getLogger(__name__)
KEEPALIVE_AFTER_S = 2.0
Owns = Callable[[str, int], bool]


class WorkerFailed(Exception):
    """The worker cannot continue safely; the runner restarts it from committed offsets."""


class BatchProcessor(Protocol):
    """Turns a batch of records (several partitions) into finished offsets and rewinds."""

    # How long the loop may wait for more records to fill a batch (0: take what is there).
    fill_wait_s: float

    def open(self, consumer: Consumer) -> None:
        """Prepare before the first batch (e.g. init transactions)."""

    def process(self, records: list[Message], owns: Owns) -> BatchResult:
        """Return what became of ``records``; raises WorkerFailed when it cannot go on."""

    def close(self) -> None:
        """Release what the processor holds (pools, producers, HTTP clients)."""


def fetch_batch(consumer: Consumer, limit: int, wait: float, fill_wait: float = 0.0) -> list[Any]:
    """Return up to ``limit`` records: wait up to ``wait`` for the first, ``fill_wait`` for more.

    ``Consumer.consume(n, timeout)`` waits until it has *n* records or the timeout passed, which
    at low rates adds the whole timeout to every event's latency; ``fill_wait`` is the bounded
    wait a batched workflow asks for to fill its POSTs.
    """
    if limit <= 0:
        return []
    first = consumer.poll(wait)
    if first is None:
        return []
    batch = [first, *consumer.consume(limit - 1, 0)] if limit > 1 else [first]
    deadline = time.monotonic() + fill_wait
    while len(batch) < limit and (left := deadline - time.monotonic()) > 0:
        more = consumer.consume(limit - len(batch), left)
        if not more:
            break
        batch.extend(more)
    return batch


class ConsumerLoop:
    """Runs ``processor`` over the records of ``topics`` in the workflow's consumer group."""

    def __init__(
        self,
        name: str,
        consumer: Consumer,
        topics: list[str],
        processor: BatchProcessor,
        stop: threading.Event,
        *,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
        breaker_state: Callable[[], str] | None = None,
    ) -> None:
        self.name = name
        self.consumer = consumer
        self.topics = topics
        self.processor = processor
        self.stop = stop
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.breaker_state = breaker_state or (lambda: "closed")
        # Replaced, never changed in place (under _lock): owns() reads it without the lock,
        # as every delivery thread asks it per record.
        self._assigned: frozenset[TP] = frozenset()
        self._done: dict[TP, int] = {}
        self._lock = threading.Lock()
        self._pending: list[Message] = []
        self.committed: dict[TP, int] = {}  # last offset this worker committed, per partition
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")
        self.errors: list[str] = []

    # ----- state for /ready --------------------------------------------------------------------
    def owns(self, topic: str, partition: int) -> bool:
        """Return True while this worker holds ``topic[partition]`` and is not stopping."""
        return (topic, partition) in self._assigned and not self.stop.is_set()

    def assigned(self) -> list[TP]:
        """Return the partitions assigned to this worker."""
        with self._lock:
            return sorted(self._assigned)

    def positions(self) -> dict[str, int]:
        """Return the last offset this worker committed per assigned partition."""
        with self._lock:
            return {
                f"{t}[{p}]": o
                for (t, p), o in sorted(self.committed.items())
                if (t, p) in self._assigned
            }

    def ready(self) -> bool:
        """Return True with partitions assigned and the sink breaker closed or half-open."""
        return bool(self.assigned()) and self.breaker_state() != OPEN

    # ----- rebalance callbacks (run inside poll/consume on the loop's thread) -----------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            self._assigned = self._assigned | {(p.topic, p.partition) for p in partitions}
            metrics.WORKER_ASSIGNED.labels(self.name).set(len(self._assigned))
        log.info("%s: assigned %s", self.name, [(p.topic, p.partition) for p in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        self._commit(only=gone)
        self._forget(gone)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked: another member may own them already, so commit nothing for them.
        self._forget({(p.topic, p.partition) for p in partitions})

    def _forget(self, gone: set[TP]) -> None:
        with self._lock:
            self._assigned = self._assigned - gone
            for tp in gone:
                self._done.pop(tp, None)
            self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in gone]
            metrics.WORKER_ASSIGNED.labels(self.name).set(len(self._assigned))

    # ----- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Consume and process until the stop event is set; then commit and leave the group."""
        self.processor.open(self.consumer)
        self.consumer.subscribe(
            self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        try:
            while not self.stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._apply(self._process(batch))
                    self._commit()
        finally:
            self._commit()
            self._runner.shutdown(wait=True)
            self.processor.close()
            self.consumer.close()

    def _next_batch(self) -> list[Message]:
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            fetched = fetch_batch(
                self.consumer,
                self.batch_size - len(batch),
                0 if batch else self.poll_timeout,
                self.processor.fill_wait_s,
            )
        except KafkaException as exc:
            self._note(f"consume failed: {exc}")
            return batch
        for msg in fetched:
            err = msg.error()
            if err is None:
                batch.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                self._note(f"consume error: {err.str()}")
        return batch

    def _process(self, batch: list[Message]) -> BatchResult:
        """Run the processor off the consumer thread, keeping the group membership alive."""
        future = self._runner.submit(self.processor.process, batch, self.owns)
        try:
            return future.result(timeout=KEEPALIVE_AFTER_S)
        except TimeoutError:
            self._keepalive(future)
            return future.result()

    def _keepalive(self, future: Future[BatchResult]) -> None:
        """Poll (partitions paused) while a slow batch runs, so the group keeps this member."""
        self.consumer.pause(self.consumer.assignment())
        try:
            while not future.done():
                msg = self.consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    with self._lock:
                        self._pending.append(msg)
        finally:
            self.consumer.resume(self.consumer.assignment())

    def _apply(self, result: BatchResult) -> None:
        """Record finished offsets (or the processor's own commit) and seek to rewinds."""
        with self._lock:
            owned = {tp: o for tp, o in result.finished.items() if tp in self._assigned}
            if result.committed:
                self.committed.update(owned)
            else:
                self._done.update(owned)
            rewinds = {tp: o for tp, o in result.rewind.items() if tp in self._assigned}
            self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in rewinds]
        for (topic, partition), offset in rewinds.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                # Going on would skip the record: end this worker (it commits only finished
                # records) and let the runner start a fresh one from the committed offsets.
                raise WorkerFailed(f"rewinding {topic}[{partition}] to {offset}: {exc}") from exc

    def _commit(self, only: set[TP] | None = None) -> None:
        with self._lock:
            chosen = {tp: o for tp, o in self._done.items() if only is None or tp in only}
            for tp in chosen:
                del self._done[tp]
        if not chosen:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in chosen.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
            metrics.WORKER_COMMITS.labels(self.name, "ok").inc()
            with self._lock:
                self.committed.update(chosen)
        except KafkaException as exc:
            # Those records were finished; the next owner re-delivers them (idempotent).
            metrics.WORKER_COMMITS.labels(self.name, "failed").inc()
            self._note(f"commit failed: {exc}")

    def _note(self, error: str) -> None:
        log.warning("%s: %s", self.name, error)
        self.errors = [*self.errors[-49:], error]
