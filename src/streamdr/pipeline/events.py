"""Change events on Kafka: content-derived ids, record key/value/headers, and decoding.

A change event's id is derived only from what the change *is* — source name, commit position,
table, primary key and its ordinal inside the transaction — so reading the same change again
(after a CDC restart, a MirrorMaker 2 failover or a restore) yields the same id, and the
delivery ``Idempotency-Key`` derived from it makes the client apply it once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamdr.artifacts.api import ChangeEvent

EVENT_ID_HEADER = "streamdr-event-id"
OPERATION_HEADER = "streamdr-operation"
COMMIT_TIME_HEADER = "streamdr-commit-time"
SOURCE_HEADER = "streamdr-source"
POSITION_HEADER = "streamdr-position"
FORMAT_VERSION = 1
OPERATIONS = ("insert", "update", "delete")


class MalformedRecord(ValueError):
    """A Kafka record that is not a streamdr change event (the reason is the message)."""


def canonical_json(value: Any) -> str:
    """Return ``value`` as compact JSON with sorted keys (the form ids and keys are built on)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def change_event_id(
    source: str, commit_position: str, table: str, key: Mapping[str, Any], ordinal: int
) -> str:
    """Return the event id of one change: 32 hex characters of a SHA-256 over its identity."""
    material = "\x1f".join(
        ("v1", source, commit_position, table, canonical_json(dict(key)), str(ordinal))
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def topic_for(prefix: str, table: str) -> str:
    """Return the topic of ``table`` ("schema.table") under ``prefix``."""
    return f"{prefix}.{table}"


@dataclass(frozen=True)
class SourceChange:
    """One row change as a CDC source read it, before it becomes an event."""

    table: str  # "schema.table"
    operation: str
    key: Mapping[str, Any]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    ordinal: int  # position of the change inside its transaction
    problem: str | None = None  # why it cannot become an event (it goes to the source's DLQ)


@dataclass(frozen=True)
class SourceTransaction:
    """A committed source transaction: its position, commit time and row changes."""

    commit_position: str  # the commit LSN (PostgreSQL) or change number (SQLite), as text
    end_position: int  # where a reader resumes after this transaction (orderable)
    commit_time: datetime
    changes: Sequence[SourceChange]


@dataclass(frozen=True)
class EncodedRecord:
    """A change event as a Kafka record."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str


def to_change_event(source: str, txn: SourceTransaction, change: SourceChange) -> ChangeEvent:
    """Return the transformation API's event for one change of ``txn``."""
    return ChangeEvent(
        event_id=change_event_id(
            source, txn.commit_position, change.table, change.key, change.ordinal
        ),
        source=source,
        table=change.table,
        operation=change.operation,  # type: ignore[arg-type]
        key=dict(change.key),
        before=dict(change.before) if change.before is not None else None,
        after=dict(change.after) if change.after is not None else None,
        commit_time=txn.commit_time,
        position=txn.commit_position,
    )


def encode_event(event: ChangeEvent, topic: str) -> EncodedRecord:
    """Return ``event`` as a record: key = canonical JSON of the primary key, value = JSON."""
    value = {
        "format": FORMAT_VERSION,
        "event_id": event.event_id,
        "source": event.source,
        "table": event.table,
        "op": event.operation,
        "key": dict(event.key),
        "before": event.before,
        "after": event.after,
        "commit_time": event.commit_time.isoformat(),
        "position": event.position,
    }
    headers = [
        (EVENT_ID_HEADER, event.event_id.encode()),
        (OPERATION_HEADER, event.operation.encode()),
        (COMMIT_TIME_HEADER, event.commit_time.isoformat().encode()),
        (SOURCE_HEADER, event.source.encode()),
        (POSITION_HEADER, event.position.encode()),
    ]
    return EncodedRecord(
        topic,
        canonical_json(dict(event.key)).encode(),
        canonical_json(value).encode(),
        headers,
        event.event_id,
    )


def header_map(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Return record headers as text (the last value of a repeated header wins)."""
    out: dict[str, str] = {}
    for name, raw in headers or []:
        out[name] = raw.decode(errors="replace") if raw is not None else ""
    return out


def decode_event(value: bytes | None, headers: Mapping[str, str]) -> ChangeEvent:
    """Return the change event in a record's value.

    Raises MalformedRecord naming what is wrong (not JSON, missing field, bad type, id mismatch).
    """
    if value is None:
        raise MalformedRecord("record has no value (tombstone)")
    try:
        doc = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRecord(f"value is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedRecord("value is not a JSON object")
    event = _event_from_doc(doc)
    header_id = headers.get(EVENT_ID_HEADER)
    if header_id is not None and header_id != event.event_id:
        raise MalformedRecord(
            f"header {EVENT_ID_HEADER}={header_id} does not match the value's {event.event_id}"
        )
    return event


def _event_from_doc(doc: dict[str, Any]) -> ChangeEvent:
    missing = [
        f for f in ("event_id", "source", "table", "op", "key", "commit_time") if f not in doc
    ]
    if missing:
        raise MalformedRecord(f"value lacks fields {missing}")
    if doc["op"] not in OPERATIONS:
        raise MalformedRecord(f"unknown operation {doc['op']!r}")
    for name in ("key", "before", "after"):
        if doc.get(name) is not None and not isinstance(doc[name], dict):
            raise MalformedRecord(f"{name} is not a JSON object")
    try:
        commit_time = datetime.fromisoformat(str(doc["commit_time"]))
    except ValueError as exc:
        raise MalformedRecord(f"commit_time {doc['commit_time']!r} is not ISO 8601") from exc
    if commit_time.tzinfo is None:
        commit_time = commit_time.replace(tzinfo=UTC)
    return ChangeEvent(
        event_id=str(doc["event_id"]),
        source=str(doc["source"]),
        table=str(doc["table"]),
        operation=doc["op"],
        key=doc["key"],
        before=doc.get("before"),
        after=doc.get("after"),
        commit_time=commit_time,
        position=str(doc.get("position", "")),
    )
