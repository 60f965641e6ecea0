"""Workflows whose sink is a Kafka topic; exactly-once ones use Kafka transactions.

A processor of the one consumer loop (:mod:`streamdr.pipeline.loop`). Per batch: begin a
transaction, produce every output (and every dead letter) into it, add the consumed offsets with
``send_offsets_to_transaction`` and commit — so outputs, dead letters and progress become
visible together or not at all (consumers downstream read ``read_committed``). At-least-once
Kafka sinks produce and flush; the loop then commits the offsets.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from confluent_kafka import (
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
from streamdr.pipeline.events import COMMIT_TIME_HEADER, EVENT_ID_HEADER
from streamdr.pipeline.handler import Failure, coordinates, prepare_batch
from streamdr.pipeline.loop import Owns, WorkerFailed
from streamdr.pipeline.progress import BatchResult
from streamdr.pipeline.transform import Delivery
from streamdr.workflows.model import Workflow

log = logging.getLogger(__name__)
TXN_TIMEOUT_S = 30.0


class KafkaSinkProcessor:
    """Writes a batch's outputs to ``workflow.sink.topic`` (a processor of the consumer loop)."""

    fill_wait_s = 0.0

    def __init__(self, workflow: Workflow, producer: Producer, transform: TransformV1) -> None:
        self.workflow = workflow
        self.name = workflow.name
        self.producer = producer
        self.transform = transform
        self.transactional = workflow.delivery.guarantee == "exactly-once"
        self._consumer: Consumer | None = None
        self._errors: list[KafkaError] = []
        self.ref = f"{workflow.transformation.name}@{workflow.transformation.version}"

    def open(self, consumer: Consumer) -> None:
        """Remember the consumer (its group metadata) and init transactions when exactly-once."""
        self._consumer = consumer
        if self.transactional:
            self.producer.init_transactions(TXN_TIMEOUT_S)

    def process(self, records: list[Message], owns: Owns) -> BatchResult:
        """Return the batch's offsets: committed in the transaction, or to commit after flush.

        A failed batch is aborted and every partition of it rewound to its first record, which
        is the committed offset (the loop commits every batch before fetching the next).
        """
        outcomes: Counter[str] = Counter()
        offsets: dict[tuple[str, int], int] = {}
        try:
            if self.transactional:
                self.producer.begin_transaction()
            prepared = prepare_batch(records, self.transform)
            for msg, (deliveries, failure) in zip(records, prepared, strict=True):
                outcomes[self._one(msg, deliveries, failure)] += 1
                offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            self._finish([TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        except KafkaException as exc:
            self._recover(exc)
            return BatchResult(rewind=_first_offsets(records))
        for outcome, count in outcomes.items():
            metrics.WORKER_RECORDS.labels(self.name, outcome).inc(count)
        # Transactional: the offsets went into the transaction. Otherwise the outputs are
        # flushed (durable) and the loop commits them.
        return BatchResult(finished=offsets, committed=self.transactional)

    def _one(self, msg: Message, deliveries: list[Delivery], failure: Failure | None) -> str:
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
            assert self._consumer is not None
            self.producer.send_offsets_to_transaction(
                offsets, self._consumer.consumer_group_metadata(), TXN_TIMEOUT_S
            )
            self.producer.commit_transaction(TXN_TIMEOUT_S)
            return
        self.producer.flush(TXN_TIMEOUT_S)
        errors, self._errors = self._errors, []
        if errors or len(self.producer) > 0:
            raise KafkaException(errors[0] if errors else KafkaError(KafkaError._TIMED_OUT))

    def _recover(self, exc: KafkaException) -> None:
        """Abort what is open; fatal errors (and a failed abort) end the worker."""
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        log.warning("%s: batch failed, re-reading from committed offsets: %s", self.name, exc)
        if err is not None and err.fatal():
            raise WorkerFailed(f"fatal producer error: {err.str()}") from exc
        if self.transactional:
            try:
                self.producer.abort_transaction(TXN_TIMEOUT_S)
            except KafkaException as abort_exc:
                raise WorkerFailed(f"aborting the transaction failed: {abort_exc}") from abort_exc
        self._errors = []
        time.sleep(1.0)  # a broker problem rarely clears at once; do not spin on it

    def close(self) -> None:
        """Flush what is left."""
        self.producer.flush(10)


def _first_offsets(records: list[Message]) -> dict[tuple[str, int], int]:
    first: dict[tuple[str, int], int] = {}
    for msg in records:
        first.setdefault((msg.topic(), msg.partition()), msg.offset())
    return first


def _key(delivery: Delivery, msg: Message) -> bytes | None:
    return delivery.key.encode() if delivery.key is not None else msg.key()


def _headers(delivery: Delivery) -> list[tuple[str, bytes]]:
    return [
        (EVENT_ID_HEADER, delivery.idempotency_key.encode()),
        (COMMIT_TIME_HEADER, delivery.event.commit_time.isoformat().encode()),
        *[(k, v.encode()) for k, v in delivery.headers.items()],
    ]
