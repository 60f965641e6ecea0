"""Dead letters: the headers a DLQ record carries, writing them durably, and listing them.

A DLQ record is the original record (key, value, headers) plus ``streamdr-dlq-*`` headers with
the reason, the stage that failed, the attempt count and the original coordinates, so nothing
is ever dropped and a replay knows exactly what it re-delivers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streamdr.clock import iso_ms
from streamdr.errors import UnreachableError
from streamdr.kafka.clients import make_consumer, translate
from streamdr.pipeline.dlq_paging import (
    Cursor,
    IdleWatch,
    ReadProgress,
    format_cursor,
    plan_ranges,
)
from streamdr.pipeline.events import EVENT_ID_HEADER, header_map
from streamdr.settings.model import SiteSettings

PREFIX = "streamdr-dlq-"
ERROR = PREFIX + "error"
STAGE = PREFIX + "stage"
ATTEMPTS = PREFIX + "attempts"
TOPIC = PREFIX + "topic"
PARTITION = PREFIX + "partition"
OFFSET = PREFIX + "offset"
TIMESTAMP = PREFIX + "timestamp"
WORKFLOW = PREFIX + "workflow"
TRANSFORMATION = PREFIX + "transformation"
AT = PREFIX + "at"
STAGES = ("decode", "transform", "deliver")
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Coordinates:
    """Where a record was read from."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None


@dataclass(frozen=True)
class DeadLetter:
    """Why one record was dead-lettered."""

    workflow: str
    transformation: str  # name@version
    stage: str
    error: str
    attempts: int
    origin: Coordinates
    at: datetime


def dlq_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """Return the ``streamdr-dlq-*`` headers describing ``letter``."""
    origin = letter.origin
    pairs = {
        ERROR: letter.error[:MAX_ERROR_CHARS],
        STAGE: letter.stage,
        ATTEMPTS: str(letter.attempts),
        TOPIC: origin.topic,
        PARTITION: str(origin.partition),
        OFFSET: str(origin.offset),
        TIMESTAMP: "" if origin.timestamp_ms is None else str(origin.timestamp_ms),
        WORKFLOW: letter.workflow,
        TRANSFORMATION: letter.transformation,
        AT: letter.at.isoformat(),
    }
    return [(k, v.encode()) for k, v in pairs.items()]


def parse_dlq_headers(headers: Mapping[str, str]) -> DeadLetter:
    """Return the DeadLetter the headers describe; raises ValueError when one is missing."""
    missing = [
        h for h in (ERROR, STAGE, ATTEMPTS, TOPIC, PARTITION, OFFSET, AT) if h not in headers
    ]
    if missing:
        raise ValueError(f"not a streamdr DLQ record: missing headers {missing}")
    ts = headers.get(TIMESTAMP, "")
    return DeadLetter(
        workflow=headers.get(WORKFLOW, ""),
        transformation=headers.get(TRANSFORMATION, ""),
        stage=headers[STAGE],
        error=headers[ERROR],
        attempts=int(headers[ATTEMPTS]),
        origin=Coordinates(
            headers[TOPIC], int(headers[PARTITION]), int(headers[OFFSET]), int(ts) if ts else None
        ),
        at=datetime.fromisoformat(headers[AT]),
    )


def dead_letter_record(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None,
    letter: DeadLetter,
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """Return (key, value, headers) of the DLQ record: the original plus the DLQ headers."""
    kept = [(k, v or b"") for k, v in headers or [] if not k.startswith(PREFIX)]
    return key, value, kept + dlq_headers(letter)


@dataclass(frozen=True)
class DlqEntry:
    """One record in a DLQ topic, decoded for listing and replay."""

    event_id: str | None
    letter: DeadLetter
    dlq_partition: int
    dlq_offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the entry for JSON output (without the record's value)."""
        o = self.letter.origin
        return {
            "event_id": self.event_id,
            "stage": self.letter.stage,
            "error": self.letter.error,
            "attempts": self.letter.attempts,
            "dead_lettered_at": self.letter.at.isoformat(),
            "transformation": self.letter.transformation,
            "origin": {
                "topic": o.topic,
                "partition": o.partition,
                "offset": o.offset,
                "timestamp": iso_ms(o.timestamp_ms),
            },
            "dlq": {"partition": self.dlq_partition, "offset": self.dlq_offset},
        }


def entry_from_message(msg: Message) -> DlqEntry:
    """Return the DlqEntry of a record read from a DLQ topic; raises ValueError if foreign."""
    raw = msg.headers() or []
    headers = header_map(raw)
    return DlqEntry(
        event_id=headers.get(EVENT_ID_HEADER),
        letter=parse_dlq_headers(headers),
        dlq_partition=msg.partition(),
        dlq_offset=msg.offset(),
        key=msg.key(),
        value=msg.value(),
        headers=[(k, v or b"") for k, v in raw if not k.startswith(PREFIX)],
    )


def wanted(entry: DlqEntry, since: datetime | None = None, ids: set[str] | None = None) -> bool:
    """Return True when ``entry`` was dead-lettered at/after ``since`` and has one of ``ids``."""
    if since is not None and entry.letter.at < since:
        return False
    return not ids or entry.event_id in ids


def select_entries(
    entries: Iterable[DlqEntry], since: datetime | None = None, ids: set[str] | None = None
) -> list[DlqEntry]:
    """Return the entries dead-lettered at or after ``since`` and, if given, with those ids."""
    return [e for e in entries if wanted(e, since, ids)]


@dataclass(frozen=True)
class DlqRecord:
    """One record read from a DLQ topic: its position and its entry (None when not streamdr's)."""

    partition: int
    offset: int
    entry: DlqEntry | None


# Bounded prefetch: the reader's memory must not grow with the size of the DLQ.
READER_QUEUE_KBYTES = 16384


class DlqReader:
    """Streams a DLQ topic from a cursor to the end offsets read once when the read starts.

    Use as a context manager; :meth:`records` yields lazily (constant memory) and
    :meth:`cursor` says where the next page starts. The deadline is an *idle* timeout: the read
    fails only when no record and no end of partition arrives for ``idle_timeout`` seconds.
    """

    def __init__(
        self,
        site_name: str,
        site: SiteSettings,
        topic: str,
        *,
        start: Cursor | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        self.site_name, self.site, self.topic = site_name, site, topic
        self.start = dict(start or {})
        self.idle_timeout = idle_timeout
        self.progress = ReadProgress({}, self.start)
        self._consumer: Consumer | None = None

    def __enter__(self) -> DlqReader:
        self._consumer = make_consumer(
            self.site,
            f"streamdr-dlq-reader-{uuid.uuid4().hex[:12]}",
            **{
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "queued.max.messages.kbytes": READER_QUEUE_KBYTES,
            },
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def cursor(self) -> Cursor:
        """Return the next offset to read per partition (where a following page starts)."""
        return self.progress.cursor()

    @property
    def more(self) -> bool:
        """Return True when records below the end seen at the start were not yielded yet."""
        return not self.progress.done

    def records(self) -> Iterator[DlqRecord]:
        """Yield the records from the cursor to the end offsets seen at the start.

        Raises UnreachableError when the site is down or no progress is made for the idle
        timeout.
        """
        assert self._consumer is not None, "use DlqReader as a context manager"
        try:
            yield from self._records(self._consumer)
        except KafkaException as exc:
            raise translate(exc, self.site_name, self.site, f"reading {self.topic}") from exc

    def _records(self, consumer: Consumer) -> Iterator[DlqRecord]:
        ranges = plan_ranges(self._watermarks(consumer), self.start)
        self.progress = ReadProgress(ranges, self.start)
        if not ranges:
            return
        consumer.assign([TopicPartition(self.topic, p, r.start) for p, r in ranges.items()])
        watch = IdleWatch(self.idle_timeout, time.monotonic())
        while not self.progress.done:
            msg = consumer.poll(0.5)
            if msg is None:
                self._check_idle(watch)
                continue
            watch.progressed(time.monotonic())
            record = self._take(msg)
            if record is not None:
                yield record
                # Time spent by the caller (a slow replay batch) is not the reader being idle.
                watch.progressed(time.monotonic())

    def _take(self, msg: Message) -> DlqRecord | None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(err)
            self.progress.reached_end(msg.partition(), msg.offset())
            return None
        if not self.progress.take(msg.partition(), msg.offset()):
            return None
        try:
            entry: DlqEntry | None = entry_from_message(msg)
        except ValueError:
            entry = None
        return DlqRecord(msg.partition(), msg.offset(), entry)

    def _check_idle(self, watch: IdleWatch) -> None:
        if watch.expired(time.monotonic()):
            raise UnreachableError(
                f"reading {self.topic} made no progress for {self.idle_timeout:.0f}s "
                f"(stopped at {format_cursor(self.cursor())})",
                hint="Check that the site's brokers run (`streamdr lab status`); the read can "
                "resume from the printed cursor with --from.",
            )

    def _watermarks(self, consumer: Consumer) -> dict[int, tuple[int, int]]:
        md = consumer.list_topics(self.topic, timeout=10)
        meta = md.topics.get(self.topic)
        if meta is None or (meta.error and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            return {}
        marks = {}
        for p in sorted(meta.partitions):
            marks[p] = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
        return marks


class DlqWriter:
    """Writes dead letters through an acks=all idempotent producer and waits for the ack."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self._lock = threading.Lock()

    def write(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] | None,
        letter: DeadLetter,
        *,
        timeout: float = 30.0,
    ) -> str | None:
        """Produce one dead letter and flush; return None when acknowledged, else the error."""
        k, v, h = dead_letter_record(key, value, headers, letter)
        result: list[KafkaError | None] = []
        with self._lock:
            self.producer.produce(
                self.topic, key=k, value=v, headers=h, on_delivery=_remember(result)
            )
            self.producer.flush(timeout)
        if not result:
            return f"no acknowledgement from {self.topic} within {timeout:.0f}s"
        return None if result[0] is None else result[0].str()


def _remember(result: list[KafkaError | None]) -> Callable[[KafkaError | None, Message], None]:
    def callback(err: KafkaError | None, _msg: Message) -> None:
        result.append(err)

    return callback
