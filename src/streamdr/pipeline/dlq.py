"""Dead letters: the headers a DLQ record carries, writing them durably, and listing them.

A DLQ record is the original record (key, value, headers) plus ``streamdr-dlq-*`` headers with
the reason, the stage that failed, the attempt count and the original coordinates, so nothing
is ever dropped and a replay knows exactly what it re-delivers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streamdr.pipeline.events import EVENT_ID_HEADER, header_map

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
                "timestamp": _iso_ms(o.timestamp_ms),
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


def select_entries(
    entries: Iterable[DlqEntry], since: datetime | None = None, ids: set[str] | None = None
) -> list[DlqEntry]:
    """Return the entries dead-lettered at or after ``since`` and, if given, with those ids."""
    chosen = []
    for entry in entries:
        if since is not None and entry.letter.at < since:
            continue
        if ids and entry.event_id not in ids:
            continue
        chosen.append(entry)
    return chosen


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


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _iso_ms(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms is not None else None
