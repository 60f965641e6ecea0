"""Workflows whose sink is a Kafka topic; exactly-once ones use Kafka transactions.

Per batch: begin a transaction, produce every output (and every dead letter) into it, add the
consumed offsets with ``send_offsets_to_transaction`` and commit — so outputs, dead letters and
progress become visible together or not at all (consumers downstream read ``read_committed``).
At-least-once Kafka sinks produce, flush, then commit offsets.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from streamdr.artifacts.api import TransformV1
from streamdr.clock import utcnow
from streamdr.observe import metrics
from streamdr.pipeline.dlq import DeadLetter, dead_letter_record
from streamdr.pipeline.events import COMMIT_TIME_HEADER, EVENT_ID_HEADER, header_map
from streamdr.pipeline.handler import coordinates, prepare
from streamdr.pipeline.transform import Delivery
from streamdr.pipeline.worker import WorkerFailed, fetch_batch
from streamdr.workflows.model import Workflow

log = logging.getLogger(__name__)
TXN_TIMEOUT_S = 30.0


class KafkaSinkWorker:
    """Consumes the workflow's topics and writes outputs to ``workflow.sink.topic``."""

    def __init__(
        self,
        workflow: Workflow,
        consumer: Consumer,
        producer: Producer,
        topics: list[str],
        transform: TransformV1,
        stop: threading.Event,
        *,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
    ) -> None:
        self.workflow = workflow
        self.name = workflow.name
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.transform = transform
        self.stop = stop
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.transactional = workflow.delivery == "exactly-once"
        self._assigned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._errors: list[KafkaError] = []
        self.errors: list[str] = []
        self.ref = f"{workflow.transformation.name}@{workflow.transformation.version}"

    def assigned(self) -> list[tuple[str, int]]:
        """Return the partitions assigned to this worker."""
        with self._lock:
            return sorted(self._assigned)

    def ready(self) -> bool:
        """Return True with partitions assigned."""
        return bool(self.assigned())

    def _on_assign(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        with self._lock:
            self._assigned |= {(p.topic, p.partition) for p in parts}
            metrics.WORKER_ASSIGNED.labels(self.name).set(len(self._assigned))

    def _on_revoke(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        with self._lock:
            self._assigned -= {(p.topic, p.partition) for p in parts}
            metrics.WORKER_ASSIGNED.labels(self.name).set(len(self._assigned))

    def run(self) -> None:
        """Process batches until the stop event is set."""
        if self.transactional:
            self.producer.init_transactions(TXN_TIMEOUT_S)
        self.consumer.subscribe(
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self.stop.is_set():
                msgs = [
                    m
                    for m in fetch_batch(self.consumer, self.batch_size, self.poll_timeout)
                    if m.error() is None
                ]
                if msgs:
                    self._batch(msgs)
        finally:
            self.consumer.close()
            self.producer.flush(10)

    def _batch(self, msgs: list[Message]) -> None:
        outcomes: Counter[str] = Counter()
        try:
            if self.transactional:
                self.producer.begin_transaction()
            offsets = {}
            for msg in msgs:
                outcomes[self._one(msg)] += 1
                offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            self._finish([TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        except KafkaException as exc:
            self._recover(exc)
            return
        for outcome, count in outcomes.items():
            metrics.WORKER_RECORDS.labels(self.name, outcome).inc(count)

    def _one(self, msg: Message) -> str:
        deliveries, failure = prepare(msg.value(), header_map(msg.headers()), self.transform)
        if failure is not None:
            if failure.stage == "transform":
                metrics.WORKER_TRANSFORM_ERRORS.labels(self.name).inc()
            letter = DeadLetter(
                self.name, self.ref, failure.stage, failure.error, 1, coordinates(msg), utcnow()
            )
            key, value, headers = dead_letter_record(msg.key(), msg.value(), msg.headers(), letter)
            self._produce(self.workflow.dlq_topic, key, value, headers)
            metrics.DLQ_RECORDS.labels(self.name, failure.stage).inc()
            return "dead_lettered"
        for d in deliveries:
            self._produce(self.workflow.sink.topic or "", _key(d, msg), d.body, _headers(d))
        return "delivered" if deliveries else "filtered"

    def _produce(self, topic: str, key: Any, value: Any, headers: Any) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=self._on_delivery
                )
                return
            except BufferError:
                self.producer.poll(0.1)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(err)

    def _finish(self, offsets: list[TopicPartition]) -> None:
        if self.transactional:
            self.producer.send_offsets_to_transaction(
                offsets, self.consumer.consumer_group_metadata(), TXN_TIMEOUT_S
            )
            self.producer.commit_transaction(TXN_TIMEOUT_S)
            return
        self.producer.flush(TXN_TIMEOUT_S)
        errors, self._errors = self._errors, []
        if errors or len(self.producer) > 0:
            raise KafkaException(errors[0] if errors else KafkaError(KafkaError._TIMED_OUT))
        self.consumer.commit(offsets=offsets, asynchronous=False)

    def _recover(self, exc: KafkaException) -> None:
        """Abort what is open and re-read from the committed offsets; fatal errors end it."""
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        self.errors = [*self.errors[-49:], str(exc)]
        log.warning("%s: batch failed, re-reading from committed offsets: %s", self.name, exc)
        if err is not None and err.fatal():
            raise WorkerFailed(f"fatal producer error: {err.str()}") from exc
        if self.transactional:
            try:
                self.producer.abort_transaction(TXN_TIMEOUT_S)
            except KafkaException as abort_exc:
                raise WorkerFailed(f"aborting the transaction failed: {abort_exc}") from abort_exc
        self._errors = []
        parts = self.consumer.assignment()
        for tp in self.consumer.committed(parts, timeout=10) if parts else []:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        self.stop.wait(1.0)


def _key(delivery: Delivery, msg: Message) -> bytes | None:
    return delivery.key.encode() if delivery.key is not None else msg.key()


def _headers(delivery: Delivery) -> list[tuple[str, bytes]]:
    return [
        (EVENT_ID_HEADER, delivery.idempotency_key.encode()),
        (COMMIT_TIME_HEADER, delivery.event.commit_time.isoformat().encode()),
        *[(k, v.encode()) for k, v in delivery.headers.items()],
    ]
