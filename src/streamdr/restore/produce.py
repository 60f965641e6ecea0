"""Producing one partition's planned records into the target topic, resumably.

The target's i-th restored record of a partition is at ``base + i``: a plain (non-transactional)
idempotent producer writes each record once, in order, at consecutive offsets. So after a crash
``end_offset - base`` records are already restored, and they are exactly the first ones of the
plan: a rerun reads the same files, skips that many records and produces the rest. Every record
(skipped or produced) goes into the partition's digest and offset map.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, Producer

from streamdr.backup.records import RecordDigest, headers_of, timestamps_ms
from streamdr.backup.store import BackupStore
from streamdr.errors import StateError, StreamdrError, UnreachableError
from streamdr.kafka.clients import make_producer
from streamdr.restore.offsetmap import OffsetMapBuilder, OffsetRun
from streamdr.restore.plan import PartitionPlan, PlannedFile, TimeWindow
from streamdr.settings.model import SiteSettings

PRODUCER_SETTINGS: dict[str, Any] = {
    "linger.ms": 20,
    "batch.size": 1 << 20,
    "queue.buffering.max.messages": 200_000,
    "queue.buffering.max.kbytes": 32 << 10,
    "delivery.report.only.error": True,
}


@dataclass
class PartitionOutcome:
    """What restoring one partition did: counts, digest and offset map."""

    partition: int
    base: int
    planned: int = 0
    skipped: int = 0
    produced: int = 0
    digest: str = ""
    runs: list[OffsetRun] = field(default_factory=list)

    @property
    def restored_end(self) -> int:
        """Return the target offset after the last restored record."""
        return self.base + self.planned


class RecordProducer:
    """An idempotent producer for one target topic that remembers the first delivery error."""

    def __init__(self, site: SiteSettings, topic: str) -> None:
        self.topic = topic
        self.error: KafkaError | None = None
        self.producer: Producer = make_producer(
            site, on_delivery=self._on_delivery, **PRODUCER_SETTINGS
        )

    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None and self.error is None:
            self.error = err

    def send_many(
        self,
        partition: int,
        keys: list[bytes | None],
        values: list[bytes | None],
        timestamps: list[int | None],
        headers: list[Any],
    ) -> None:
        """Queue records to one partition, in order (waits while librdkafka's queue is full)."""
        produce, topic = self.producer.produce, self.topic
        for key, value, ts, hdrs in zip(keys, values, timestamps, headers, strict=True):
            try:
                produce(topic, value, key, partition=partition, timestamp=ts or 0, headers=hdrs)
            except BufferError:
                self._produce_when_room(partition, key, value, ts or 0, hdrs)
        self.producer.poll(0)
        self.raise_error()

    def _produce_when_room(
        self, partition: int, key: bytes | None, value: bytes | None, ts: int, headers: Any
    ) -> None:
        while True:
            self.producer.poll(0.05)
            self.raise_error()
            try:
                self.producer.produce(
                    self.topic, value, key, partition=partition, timestamp=ts, headers=headers
                )
                return
            except BufferError:
                continue

    def flush(self, timeout: float = 120.0) -> None:
        """Wait for every queued record; raises when one failed or the site does not answer."""
        left = self.producer.flush(timeout)
        self.raise_error()
        if left:
            raise UnreachableError(
                f"{left} records to {self.topic} were not acknowledged within {timeout:.0f}s",
                hint="Check the target site; rerun the same command to resume the restore.",
            )

    def raise_error(self) -> None:
        """Raise the first delivery failure, if any."""
        if self.error is None:
            return
        err = self.error
        raise StreamdrError(
            f"producing to {self.topic} failed: {err.name()}: {err.str()}",
            hint="Fix the cause, then rerun the same command: the restore resumes without "
            "duplicates.",
        )


def window_filter(batch: pa.RecordBatch, window: TimeWindow) -> pa.RecordBatch:
    """Return the records of ``batch`` whose timestamp is inside ``window``."""
    ts = batch.column("timestamp").cast(pa.int64())
    mask = None
    if window.start_ms is not None:
        mask = pc.greater_equal(ts, window.start_ms)
    if window.end_ms is not None:
        below = pc.less(ts, window.end_ms)
        mask = below if mask is None else pc.and_(mask, below)
    return batch if mask is None else batch.filter(mask)


class PartitionRestorer:
    """Restores the planned files of one partition (produce or skip, digest, offset map)."""

    def __init__(
        self,
        store: BackupStore,
        producer: RecordProducer,
        window: TimeWindow,
        on_records: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.producer = producer
        self.window = window
        self.on_records = on_records or (lambda _n: None)

    def restore(self, plan: PartitionPlan, base: int, already: int) -> PartitionOutcome:
        """Restore one partition whose first ``already`` planned records are in the target."""
        out = PartitionOutcome(plan.partition, base)
        digest, offsets = RecordDigest(), OffsetMapBuilder()
        for planned in plan.files:
            for batch in self._batches(planned):
                n = batch.num_rows
                self._map(offsets, batch, base + out.planned)
                skip = max(0, min(n, already - out.planned))
                self._send(batch, plan.partition, skip, digest)
                out.planned += n
                out.skipped += skip
                out.produced += n - skip
                self.on_records(n)
        if already > out.planned:
            raise StateError(
                f"partition {plan.partition} of the target holds {already} records from this "
                f"restore but the plan has only {out.planned}: something else wrote to it",
                hint="Delete the target topic and restore again, or restore to another --to-topic.",
            )
        out.digest, out.runs = digest.hexdigest(), offsets.runs
        return out

    def _batches(self, planned: PlannedFile) -> Any:
        for batch in self.store.batches(planned.entry):
            yield batch if planned.whole else window_filter(batch, self.window)

    @staticmethod
    def _map(offsets: OffsetMapBuilder, batch: pa.RecordBatch, restored_start: int) -> None:
        col = batch.column("offset")
        n = len(col)
        if n == 0:
            return
        first, last = col[0].as_py(), col[n - 1].as_py()
        if last - first + 1 == n:
            offsets.add_contiguous(first, restored_start, n)
        else:
            offsets.add_range(col.to_pylist(), restored_start)

    def _send(self, batch: pa.RecordBatch, partition: int, skip: int, digest: RecordDigest) -> None:
        digest.add_batch(batch)
        if skip >= batch.num_rows:
            return
        if skip:
            batch = batch.slice(skip)
        self.producer.send_many(
            partition,
            batch.column("key").to_pylist(),
            batch.column("value").to_pylist(),
            timestamps_ms(batch),
            headers_of(batch),
        )
