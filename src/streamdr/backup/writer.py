"""The backup writer: consume topics, roll Parquet files, catalog them, commit after durable.

Progress lives in the catalog itself: a run resumes every partition at the end offset of its
last catalog entry, and an entry is written only after its data file is durable. Records
buffered or being written when the process dies are simply read again by the next run, so a
crash causes neither a gap nor an overlap. Memory is bounded: files roll by record count, bytes
and age, the total of all buffers is capped, and at most one file waits for the writer thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message
from confluent_kafka import TopicPartition as KafkaTP

from streamdr.backup.model import (
    GAP_RETENTION,
    Gap,
    ManifestEntry,
    TopicPartition,
)
from streamdr.backup.records import ColumnBuffer, gc_paused
from streamdr.backup.store import BackupStore
from streamdr.errors import StateError, StreamdrError, UnreachableError
from streamdr.kafka.clients import make_consumer
from streamdr.settings.model import SiteSettings

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
CONSUMER_CONF: dict[str, Any] = {
    "enable.partition.eof": True,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
    "fetch.max.bytes": 16 << 20,
    "queued.max.messages.kbytes": 32 << 10,
}
# Python's own memory per buffered record (objects, list slots) and per header, so that the
# byte limits bound real memory, not just payload bytes.
RECORD_OVERHEAD_BYTES = 200
HEADER_OVERHEAD_BYTES = 160


Fence = Callable[[TopicPartition], None]
"""Raises unless this process may still write the partition's catalog (its lease)."""


@dataclass(frozen=True)
class RollPolicy:
    """When a partition's buffer becomes a file, and how much may be buffered in total.

    Peak memory is about ``max_buffered_bytes`` plus one file being encoded and written.
    """

    max_records: int = 1_000_000
    max_bytes: int = 64 << 20
    max_age_s: float = 60.0
    max_buffered_bytes: int = 64 << 20


@dataclass
class WriterStats:
    """Counters of one run, updated by the consumer loop and the file writer thread."""

    consumed: int = 0
    records_written: int = 0
    files: int = 0
    bytes: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def written(self, entry: ManifestEntry) -> None:
        """Count one durable file."""
        with self.lock:
            self.records_written += entry.records
            self.files += 1
            self.bytes += entry.bytes


class _Partition:
    """Buffer and offset bookkeeping of one partition between two files."""

    __slots__ = (
        "absent",
        "buf",
        "day",
        "done",
        "expected",
        "gaps",
        "opened",
        "start",
        "stop_at",
        "tp",
    )

    def __init__(self, tp: TopicPartition, start: int, stop_at: int | None) -> None:
        self.tp = tp
        self.start = start
        self.expected = start
        self.stop_at = stop_at
        self.done = stop_at is not None and start >= stop_at
        self.reset(start)

    def reset(self, start: int) -> None:
        self.buf = ColumnBuffer(self.tp.topic, self.tp.partition)
        self.start = start
        self.gaps: list[Gap] = []
        self.absent = 0
        self.day = -1
        self.opened = 0.0

    def hole(self, offset: int, low_watermark: int) -> None:
        """Account for offsets ``[expected, offset)`` that returned no record."""
        lost_end = min(offset, max(low_watermark, self.expected))
        if lost_end > self.expected:
            self.gaps.append(Gap(self.expected, lost_end, GAP_RETENTION))
        self.absent += offset - max(lost_end, self.expected)

    def entry(self) -> ManifestEntry:
        """Return the (not yet written) catalog entry for the buffered records."""
        b = self.buf
        stamps = [t for t in b.timestamps if t is not None]
        return ManifestEntry(
            topic=self.tp.topic,
            partition=self.tp.partition,
            start_offset=self.start,
            end_offset=b.offsets[-1] + 1,
            records=len(b),
            first_offset=b.offsets[0],
            last_offset=b.offsets[-1],
            min_timestamp=min(stamps, default=0),
            max_timestamp=max(stamps, default=0),
            gaps=tuple(self.gaps),
            absent=self.absent,
        )


class FileWriter(threading.Thread):
    """Writes rolled buffers to every store, in order; after one failure it writes nothing.

    Stopping at the first failure is what keeps the catalog free of holes: a later file of the
    same partition must never be cataloged when an earlier one is not.
    """

    def __init__(
        self, stores: list[BackupStore], stats: WriterStats, fence: Fence | None = None
    ) -> None:
        super().__init__(name="backup-file-writer", daemon=True)
        self.stores = stores
        self.stats = stats
        self.fence = fence
        self.queue: queue.Queue[tuple[ColumnBuffer, ManifestEntry] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None

    def run(self) -> None:
        while (item := self.queue.get()) is not None:
            buf, entry = item
            if self.error is None:
                try:
                    self._write(buf, entry)
                except BaseException as exc:
                    self.error = exc
            del buf, item
            self.queue.task_done()

    def _write(self, buf: ColumnBuffer, entry: ManifestEntry) -> None:
        table = buf.to_table()
        buf.keys = buf.values = []  # free the Python objects before encoding
        buf.headers = []
        if self.fence is not None:
            self.fence(entry.tp)  # a writer that lost its partition's lease must not write
        final = self.stores[0].write_segment(table, entry)
        del table
        for copy in self.stores[1:]:
            self.stores[0].copy_entry_to(final, copy)
        self.stats.written(final)

    def submit(self, buf: ColumnBuffer, entry: ManifestEntry) -> None:
        """Hand one file over; waits while the previous one is still being written.

        Consuming goes on while a file is encoded and uploaded, but never more than one file is
        in the writer's hands: that bounds memory to the buffers plus one file.
        """
        self.queue.join()
        self.raise_error()
        self.queue.put((buf, entry))

    def drain(self) -> None:
        """Wait until every submitted file is written; raise the first failure, if any."""
        self.queue.join()
        self.raise_error()

    def finish(self) -> None:
        """Write what is queued, stop the thread and raise its error, if any."""
        self.queue.put(None)
        self.join()
        self.raise_error()

    def raise_error(self) -> None:
        """Raise the first write failure (as a streamdr error)."""
        if self.error is None:
            return
        if isinstance(self.error, StreamdrError):
            raise self.error
        raise UnreachableError(
            f"writing a backup file failed: {self.error}",
            hint="Check the object store, then rerun: the backup continues where it stopped.",
        ) from self.error


@dataclass(frozen=True)
class StartPosition:
    """Where one partition's backup starts this run, and (one-shot) where it stops."""

    tp: TopicPartition
    offset: int
    stop_at: int | None


class PartitionWriter:
    """Consumes assigned partitions from a site into files in the backup stores."""

    def __init__(
        self,
        site: SiteSettings,
        stores: list[BackupStore],
        roll: RollPolicy,
        *,
        stop: threading.Event | None = None,
        on_tick: Callable[[WriterStats], None] | None = None,
        idle_timeout_s: float = 60.0,
        fence: Fence | None = None,
    ) -> None:
        self.site = site
        self.fence = fence
        self.stores = stores
        self.roll = roll
        self.stop = stop or threading.Event()
        self.on_tick = on_tick
        self.idle_timeout_s = idle_timeout_s
        self.stats = WriterStats()
        self._parts: dict[tuple[str, int], _Partition] = {}
        self._buffered = 0

    # ----- the loop ----------------------------------------------------------------------
    def run(self, starts: list[StartPosition], continuous: bool, group_id: str) -> WriterStats:
        """Consume until every partition reached its stop offset (or ``stop`` in continuous).

        Raises UnreachableError when the site or a store fails; what was cataloged stays.
        """
        self._parts = {
            (s.tp.topic, s.tp.partition): _Partition(s.tp, s.offset, s.stop_at) for s in starts
        }
        active = [p for p in self._parts.values() if continuous or not p.done]
        if not active:
            return self.stats
        consumer = make_consumer(self.site, group_id, **CONSUMER_CONF)
        writer = FileWriter(self.stores, self.stats, self.fence)
        writer.start()
        try:
            consumer.assign([KafkaTP(p.tp.topic, p.tp.partition, p.expected) for p in active])
            with gc_paused():
                self._loop(consumer, writer, continuous)
            for part in self._parts.values():
                self._roll(part, writer)
        finally:
            try:
                writer.finish()
            finally:
                consumer.close()
        return self.stats

    def _loop(self, consumer: Any, writer: FileWriter, continuous: bool) -> None:
        last_progress = last_tick = time.monotonic()
        while not self.stop.is_set():
            msgs = consumer.consume(10_000, 0.5)
            now = time.monotonic()
            if msgs:
                last_progress = now
                self._handle(consumer, writer, msgs)
            if now - last_tick >= 0.5:
                last_tick = now
                self._roll_aged(writer, now)
                writer.raise_error()
                self._housekeeping(consumer, now)
                if self.on_tick:
                    self.on_tick(self.stats)
            if not continuous and all(p.done for p in self._parts.values()):
                return
            if not continuous and now - last_progress > self.idle_timeout_s:
                raise UnreachableError(
                    f"the backup read nothing for {self.idle_timeout_s:.0f}s before reaching "
                    "the end of every partition",
                    hint="Check that the site's brokers are up; rerun to continue.",
                )

    def _handle(self, consumer: Any, writer: FileWriter, msgs: list[Message]) -> None:
        # The hot loop: one pass per record, locals only, no call that can be avoided.
        max_records, max_bytes = self.roll.max_records, self.roll.max_bytes
        parts, current, part = self._parts, None, None
        for msg in msgs:
            err = msg.error()
            if err is not None:
                self._on_error(msg, err, writer)
                continue
            tp = (msg.topic(), msg.partition())
            if tp != current:
                part, current = parts.get(tp), tp
            if part is None:
                continue  # fetched before its partition was revoked: the new owner reads it
            offset = msg.offset()
            if offset != part.expected:
                self._on_hole(consumer, part, offset)
            ts_type, ts = msg.timestamp()
            if ts // DAY_MS > part.day:
                self._new_day(part, writer, ts // DAY_MS)
            key, value, headers = msg.key(), msg.value(), msg.headers()
            buf = part.buf
            n = buf.append(offset, ts if ts >= 0 else None, ts_type, key, value, headers)
            size = (
                RECORD_OVERHEAD_BYTES
                + (len(key) if key else 0)
                + (len(value) if value else 0)
                + (HEADER_OVERHEAD_BYTES * len(headers) if headers else 0)
            )
            buf.nbytes += size
            self._buffered += size
            part.expected = offset + 1
            if part.stop_at is not None and part.expected >= part.stop_at:
                part.done = True
            if n >= max_records or buf.nbytes >= max_bytes:
                self._roll(part, writer)
            elif self._buffered > self.roll.max_buffered_bytes:
                self._roll(max(parts.values(), key=lambda p: p.buf.nbytes), writer)
        self.stats.consumed += len(msgs)

    def _housekeeping(self, consumer: Any, now: float) -> None:
        """Run periodic work of a subclass (leases, pending partitions); nothing here."""

    def _new_day(self, part: _Partition, writer: FileWriter, day: int) -> None:
        """Start a new file when a record's UTC day is later than the file's (day layout)."""
        if part.buf.offsets:
            self._roll(part, writer)
        part.day = day
        part.opened = time.monotonic()

    def _on_hole(self, consumer: Any, part: _Partition, offset: int) -> None:
        if offset < part.expected:
            raise StateError(
                f"{part.tp} went back from offset {part.expected} to {offset}: "
                "the topic was deleted and recreated, or truncated",
                hint="Back the new topic up under a new --prefix; keep the old backup as is.",
            )
        low, _high = consumer.get_watermark_offsets(
            KafkaTP(part.tp.topic, part.tp.partition), cached=True
        )
        part.hole(offset, low)

    def _on_error(self, msg: Message, err: KafkaError, writer: FileWriter) -> None:
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            part = self._parts.get((msg.topic(), msg.partition()))
            if part is not None:
                part.done = True
            return
        if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION):
            for part in self._parts.values():
                if part.tp.topic == msg.topic() and not part.done:
                    self._roll(part, writer)
                    part.done = True
            self.stats.warnings.append(f"topic {msg.topic()} disappeared during the backup")
            return
        if err.fatal() or code == KafkaError._AUTHENTICATION:
            raise UnreachableError(
                f"the backup consumer failed: {err.str()}",
                hint="Check the site's security settings and broker logs; rerun to continue.",
            )
        log.warning("backup consumer: %s", err.str())

    # ----- rolling -----------------------------------------------------------------------
    def _roll(self, part: _Partition, writer: FileWriter) -> None:
        if not part.buf.offsets:
            return
        entry = part.entry()
        buf = part.buf
        self._buffered -= buf.nbytes
        part.reset(entry.end_offset)
        writer.submit(buf, entry)

    def _roll_aged(self, writer: FileWriter, now: float) -> None:
        for part in self._parts.values():
            if part.buf.offsets and now - part.opened >= self.roll.max_age_s:
                self._roll(part, writer)
