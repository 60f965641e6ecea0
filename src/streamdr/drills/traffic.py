"""Steady, numbered traffic through one topic, recorded for RTO/RPO measurement.

A producer thread sends ``rate`` records per second round-robin over the partitions (acks=all,
idempotent); a consumer thread reads them in its own group. Every send, ack and receipt is
recorded with its wall-clock time as :class:`~streamdr.drills.measure.Sent` /
:class:`~streamdr.drills.measure.Received`.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from confluent_kafka import KafkaError, Message

from streamdr.drills.measure import Received, Sent
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.settings.model import SiteSettings

PAYLOAD_BYTES = 200


class Traffic:
    """Producer and consumer threads over ``topic``; call :meth:`start`, then :meth:`stop`."""

    def __init__(
        self, site: SiteSettings, topic: str, partitions: int, *, rate: float = 200.0
    ) -> None:
        self.site = site
        self.topic = topic
        self.partitions = partitions
        self.rate = rate
        self.run_id = uuid.uuid4().hex[:12]
        self._sent: dict[int, Sent] = {}
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._stop_producing = threading.Event()
        self._stop_consuming = threading.Event()
        self._assigned = threading.Event()
        self._consumer_thread = threading.Thread(
            target=self._consume, name="drill-consumer", daemon=True
        )
        self._producer_thread = threading.Thread(
            target=self._produce, name="drill-producer", daemon=True
        )
        self.errors: list[str] = []

    # ----- recorded data -------------------------------------------------------------------
    def sent(self) -> list[Sent]:
        """Return a copy of every send so far."""
        with self._lock:
            return list(self._sent.values())

    def received(self) -> list[Received]:
        """Return a copy of every receipt so far."""
        with self._lock:
            return list(self._received)

    # ----- lifecycle -----------------------------------------------------------------------
    def start(self, *, ready_timeout: float = 30.0) -> None:
        """Start consuming, wait for the partition assignment, then start producing.

        Raises TimeoutError when the consumer gets no assignment in ``ready_timeout``.
        """
        self._consumer_thread.start()
        if not self._assigned.wait(ready_timeout):
            self._stop_consuming.set()
            raise TimeoutError(
                f"consumer got no partitions of {self.topic} in {ready_timeout:.0f}s"
            )
        self._producer_thread.start()

    def stop_producing(self) -> None:
        """Stop sending and wait until every record in flight is acked or failed."""
        self._stop_producing.set()
        self._producer_thread.join(timeout=120)

    def drain(self, timeout: float) -> bool:
        """Wait until every acked record was consumed, then stop the consumer.

        Returns False when ``timeout`` passed first.
        """
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                acked = {s.seq for s in self.sent() if s.acked_at is not None}
                if acked <= {r.seq for r in self.received()}:
                    return True
                time.sleep(0.2)
            return False
        finally:
            self._stop_consuming.set()
            self._consumer_thread.join(timeout=30)

    def wait_until(self, predicate: Any, timeout: float, interval: float = 0.05) -> bool:
        """Poll ``predicate(self)`` until true or ``timeout``; return its last value."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(self):
                return True
            time.sleep(interval)
        return bool(predicate(self))

    # ----- threads -------------------------------------------------------------------------
    def _on_delivery(self, seq: int) -> Any:
        def callback(err: KafkaError | None, _msg: Message) -> None:
            now = time.time()
            with self._lock:
                old = self._sent[seq]
                self._sent[seq] = Sent(
                    seq,
                    old.partition,
                    old.sent_at,
                    None if err else now,
                    err.str() if err else None,
                )

        return callback

    def _produce(self) -> None:
        producer = make_producer(self.site, **{"linger.ms": 0})
        pad = b"x" * PAYLOAD_BYTES
        seq, interval, next_at = 0, 1.0 / self.rate, time.time()
        while not self._stop_producing.is_set():
            partition = seq % self.partitions
            with self._lock:
                self._sent[seq] = Sent(seq, partition, time.time())
            try:
                producer.produce(
                    self.topic,
                    value=f"{self.run_id}:{seq}:".encode() + pad,
                    key=str(seq).encode(),
                    partition=partition,
                    on_delivery=self._on_delivery(seq),
                )
            except BufferError:
                self.errors.append(f"local queue full at seq {seq}")
            seq += 1
            next_at += interval
            producer.poll(max(0.0, next_at - time.time()))
        producer.flush(90)

    def _consume(self) -> None:
        group = f"streamdr-drill-{self.run_id}"
        consumer = make_consumer(self.site, group, **{"fetch.wait.max.ms": 50})
        consumer.subscribe([self.topic], on_assign=lambda c, parts: self._assigned.set())
        prefix = f"{self.run_id}:".encode()
        try:
            while not self._stop_consuming.is_set():
                msg = consumer.poll(0.1)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        self.errors.append(f"consume: {msg.error().str()}")
                    continue
                value = msg.value() or b""
                if value.startswith(prefix):
                    seq = int(value.split(b":", 2)[1])
                    with self._lock:
                        self._received.append(Received(seq, msg.partition(), time.time()))
        finally:
            consumer.close()
