"""A worker: one consumer-group member running one workflow, committing only finished records.

Records of different partitions are delivered concurrently (one thread per partition in the
batch), records of one partition strictly in order. After a batch the worker commits, per
partition, the offset after the last *finished* record (delivered, filtered or durably
dead-lettered). A partition whose record could not be finished (stopping, revoked, DLQ down)
is rewound to that record, so nothing is ever skipped; anything delivered but not yet committed
when the process dies is delivered again and ignored by the endpoint's idempotency keys.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streamdr.observe import metrics
from streamdr.pipeline.breaker import OPEN
from streamdr.pipeline.handler import RecordHandler

log = logging.getLogger(__name__)

TP = tuple[str, int]
KEEPALIVE_AFTER_S = 2.0


def fetch_batch(consumer: Consumer, limit: int, wait: float) -> list[Message]:
    """Return up to ``limit`` records: wait up to ``wait`` for the first, none for the rest.

    ``Consumer.consume(n, timeout)`` waits until it has *n* records or the timeout passed, which
    at low rates adds the whole timeout to every event's latency.
    """
    if limit <= 0:
        return []
    first = consumer.poll(wait)
    if first is None:
        return []
    return [first, *consumer.consume(limit - 1, 0)] if limit > 1 else [first]


class WorkerFailed(Exception):
    """The worker cannot continue safely; the runner restarts it from committed offsets."""


class Worker:
    """Runs ``handler`` over the records of ``topics`` in the workflow's consumer group."""

    def __init__(
        self,
        name: str,
        consumer: Consumer,
        topics: list[str],
        handler: RecordHandler,
        stop: threading.Event,
        *,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
        breaker_state: Any = None,
    ) -> None:
        self.name = name
        self.consumer = consumer
        self.topics = topics
        self.handler = handler
        self.stop = stop
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.breaker_state = breaker_state or (lambda: "closed")
        self._assigned: set[TP] = set()
        self._done: dict[TP, int] = {}
        self._lock = threading.Lock()
        self._pending: list[Message] = []
        self._rewinds: dict[TP, int] = {}
        self.committed: dict[TP, int] = {}  # last offset this worker committed, per partition
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"deliver-{name}")
        self.errors: list[str] = []
        handler.still_owned = self.owns

    # ----- state for /ready --------------------------------------------------------------------
    def owns(self, topic: str, partition: int) -> bool:
        """Return True while this worker holds ``topic[partition]`` and is not stopping."""
        with self._lock:
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

    # ----- rebalance callbacks (run inside poll/consume on the worker thread) -----------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            self._assigned |= {(p.topic, p.partition) for p in partitions}
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
            self._assigned -= gone
            for tp in gone:
                self._done.pop(tp, None)
            self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in gone]
            metrics.WORKER_ASSIGNED.labels(self.name).set(len(self._assigned))

    # ----- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Consume and process until the stop event is set; then commit and leave the group."""
        self.consumer.subscribe(
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not self.stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._process(batch)
                    self._commit()
        finally:
            self._commit()
            self._pool.shutdown(wait=True)
            self.consumer.close()

    def _next_batch(self) -> list[Message]:
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            fetched = fetch_batch(
                self.consumer, self.batch_size - len(batch), 0 if batch else self.poll_timeout
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

    def _process(self, batch: list[Message]) -> None:
        by_tp: dict[TP, list[Message]] = defaultdict(list)
        for msg in batch:
            by_tp[(msg.topic(), msg.partition())].append(msg)
        futures = [self._pool.submit(self._run_partition, tp, msgs) for tp, msgs in by_tp.items()]
        done, _ = wait(futures, timeout=KEEPALIVE_AFTER_S)
        if len(done) < len(futures):
            self._keepalive(futures)
        for fut in futures:
            fut.result()
        self._apply_rewinds()

    def _run_partition(self, tp: TP, msgs: list[Message]) -> None:
        for msg in msgs:
            if not self.owns(*tp):
                return
            if not self.handler.handle(msg):
                self._rewind(tp, msg.offset())
                return
            with self._lock:
                if tp in self._assigned:
                    self._done[tp] = msg.offset() + 1

    def _rewind(self, tp: TP, offset: int) -> None:
        """Remember to read ``offset`` of ``tp`` again (it was not finished)."""
        with self._lock:
            self._rewinds[tp] = offset

    def _apply_rewinds(self) -> None:
        # Seeks happen on the consumer's own thread, after the batch's deliveries ended.
        with self._lock:
            rewinds, self._rewinds = self._rewinds, {}
            self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in rewinds]
        for (topic, partition), offset in rewinds.items():
            if not self.owns(topic, partition):
                continue
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                # Going on would skip the record: end this worker (it commits only finished
                # records) and let the runner start a fresh one from the committed offsets.
                raise WorkerFailed(f"rewinding {topic}[{partition}] to {offset}: {exc}") from exc

    def _keepalive(self, futures: list[Future[None]]) -> None:
        """Poll (partitions paused) while slow deliveries run, so the group keeps this member."""
        paused = self.consumer.assignment()
        self.consumer.pause(paused)
        try:
            while not all(f.done() for f in futures):
                msg = self.consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    with self._lock:
                        self._pending.append(msg)
        finally:
            self.consumer.resume(self.consumer.assignment())

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
