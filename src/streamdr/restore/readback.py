"""Reading restored records back from the target to verify counts and digests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import TopicPartition as KafkaTP

from streamdr.backup.records import RecordDigest
from streamdr.kafka.clients import make_consumer
from streamdr.settings.model import SiteSettings


@dataclass(frozen=True)
class ReadBack:
    """What was read back from one partition's restored range."""

    partition: int
    count: int
    digest: str


def read_back(
    site: SiteSettings,
    topic: str,
    ranges: dict[int, tuple[int, int]],
    *,
    stall_timeout_s: float = 30.0,
    on_records: Callable[[int], None] | None = None,
    writing: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> dict[int, ReadBack]:
    """Return count and digest of the records in ``ranges`` (``{partition: (start, end)}``).

    It may run while the records are still being produced: the stall timeout counts only once
    ``writing`` is cleared. Stops when every range is read, or when nothing arrives for
    ``stall_timeout_s`` (the counts then fall short, which the caller reports).
    """
    digests = {p: RecordDigest() for p in ranges}
    columns: dict[int, tuple[list, list, list, list]] = {p: ([], [], [], []) for p in ranges}
    todo = {p: end for p, (start, end) in ranges.items() if end > start}
    consumer = make_consumer(
        site,
        f"streamdr-restore-verify-{uuid.uuid4().hex[:8]}",
        **{
            "enable.partition.eof": False,
            "fetch.max.bytes": 16 << 20,
            "queued.max.messages.kbytes": 32 << 10,
        },
    )
    try:
        consumer.assign([KafkaTP(topic, p, ranges[p][0]) for p in todo])
        last = time.monotonic()
        while todo and time.monotonic() - last < stall_timeout_s:
            if stop is not None and stop.is_set():
                break
            msgs = consumer.consume(10_000, 0.5)
            if msgs or (writing is not None and writing.is_set()):
                last = time.monotonic()
            read = 0
            for msg in msgs:
                if msg.error() is not None:
                    continue
                p = msg.partition()
                end = todo.get(p)
                if end is None or msg.offset() >= end:
                    continue
                ts, keys, values, headers = columns[p]
                ts.append(msg.timestamp()[1])
                keys.append(msg.key())
                values.append(msg.value())
                headers.append(msg.headers())
                read += 1
                if msg.offset() + 1 >= end:
                    del todo[p]
            for p, cols in columns.items():
                if cols[0]:
                    digests[p].add_lists(*cols)
                    columns[p] = ([], [], [], [])
            if on_records and read:
                on_records(read)
    finally:
        consumer.close()
    return {p: ReadBack(p, d.count, d.hexdigest()) for p, d in digests.items()}


class ReadBackThread(threading.Thread):
    """Runs :func:`read_back` beside the producer; ``writing`` is cleared once it is done."""

    def __init__(
        self,
        site: SiteSettings,
        topic: str,
        ranges: dict[int, tuple[int, int]],
        advance: Callable[[int], None],
    ) -> None:
        super().__init__(name="restore-read-back", daemon=True)
        self.site, self.topic, self.ranges, self.advance = site, topic, ranges, advance
        self.writing = threading.Event()
        self.writing.set()
        self.stop = threading.Event()
        self._result: dict[int, ReadBack] = {}
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._result = read_back(
                self.site,
                self.topic,
                self.ranges,
                on_records=self.advance,
                writing=self.writing,
                stop=self.stop,
            )
        except BaseException as exc:
            self._error = exc

    def result(self) -> dict[int, ReadBack]:
        """Wait for the read-back and return it; raise what it raised."""
        self.join()
        if self._error is not None:
            raise self._error
        return self._result
