"""The batch envelope and per-event answers of batched HTTP delivery (the client contract).

One ``POST`` carries many events, each with its own idempotency key::

    {"version": 1, "batch_id": "b1-…", "events": [
        {"idempotency_key": "…", "lane": "…", "event_time": "…", "headers": {…}, "payload": {…}}]}

Signature v2 covers the whole body (so every event's key, lane, time and payload) plus three
headers: ``Idempotency-Key`` = the batch id (:func:`batch_id`, derived from every event key in
order), ``Streamdr-Event-Time`` = the last event's time, ``Streamdr-Workflow``. The endpoint
answers 200 with one result per event, in order: ``applied``, ``duplicate`` (both finished),
``rejected`` (permanent: dead-lettered) or ``retry`` (not applied; sent again). An event whose
lane had an earlier event not applied in the same batch must be answered ``retry``, so the
events of one key are applied in order. The JSON schemas are in docs/schemas/.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streamdr.pipeline.transform import Delivery

ENVELOPE_VERSION = 1
STATUSES = ("applied", "duplicate", "rejected", "retry")
FINISHED = frozenset({"applied", "duplicate"})
MAX_BATCH_EVENTS = 10_000
MAX_ERROR_CHARS = 300


class MalformedBatch(ValueError):
    """A batch envelope or batch answer that breaks the contract (the reason is the message)."""


@dataclass(frozen=True)
class BatchItem:
    """One event inside a batch: its delivery and its ordering lane."""

    delivery: Delivery
    lane: str


@dataclass(frozen=True)
class EventResult:
    """The endpoint's answer for one event of a batch."""

    idempotency_key: str
    status: str
    error: str | None = None


def batch_id(keys: Sequence[str]) -> str:
    """Return the batch id of events with idempotency ``keys`` (in order): ``b1-`` + 40 hex."""
    return "b1-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40]


def encode_batch(items: Sequence[BatchItem]) -> tuple[str, bytes]:
    """Return (batch id, body) of ``items``; each payload is spliced in as already serialised."""
    bid = batch_id([i.delivery.idempotency_key for i in items])
    parts = []
    for item in items:
        d = item.delivery
        head = json.dumps(
            {
                "idempotency_key": d.idempotency_key,
                "lane": item.lane,
                "event_time": d.event.commit_time.isoformat(),
                "headers": dict(d.headers),
            },
            separators=(",", ":"),
        )
        parts.append(head[:-1].encode() + b',"payload":' + d.body + b"}")
    prefix = json.dumps({"version": ENVELOPE_VERSION, "batch_id": bid}, separators=(",", ":"))
    return bid, prefix[:-1].encode() + b',"events":[' + b",".join(parts) + b"]}"


def encoded_size(delivery: Delivery) -> int:
    """Return about how many bytes ``delivery`` adds to an envelope (for ``max_bytes``)."""
    headers = sum(len(k) + len(v) + 6 for k, v in delivery.headers.items())
    return len(delivery.body) + len(delivery.idempotency_key) + headers + 160


def parse_results(doc: Any, keys: Sequence[str]) -> list[EventResult]:
    """Return the per-event results of a batch answer for events ``keys``.

    Raises MalformedBatch unless there is exactly one result per event, in order, with a known
    status: an answer we cannot match event by event tells us nothing about any of them.
    """
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list) or len(results) != len(keys):
        raise MalformedBatch(f"expected {len(keys)} results")
    parsed = []
    for key, res in zip(keys, results, strict=True):
        if not isinstance(res, dict) or res.get("idempotency_key") != key:
            raise MalformedBatch("results are not in the order of the events")
        status = res.get("status")
        if status not in STATUSES:
            raise MalformedBatch(f"unknown status {str(status)[:40]!r}")
        error = res.get("error")
        parsed.append(EventResult(key, status, str(error)[:MAX_ERROR_CHARS] if error else None))
    return parsed


@dataclass(frozen=True)
class IncomingEvent:
    """One event of a received batch, checked for shape."""

    idempotency_key: str
    lane: str
    event_time: str | None
    payload: str  # compact JSON, as the per-event body would be


def parse_envelope(doc: Any, header_key: str, header_time: str) -> list[IncomingEvent]:
    """Return the events of a received envelope; raises MalformedBatch when it is not one.

    ``header_key``/``header_time`` are the signed headers: the batch id must be the one derived
    from the events' keys and the event time the last event's, so the headers bind the body.
    """
    if not isinstance(doc, dict) or doc.get("version") != ENVELOPE_VERSION:
        raise MalformedBatch(f"not a version {ENVELOPE_VERSION} batch envelope")
    events = doc.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH_EVENTS:
        raise MalformedBatch(f"events must be a list of 1 to {MAX_BATCH_EVENTS}")
    parsed = [_incoming(e) for e in events]
    keys = [e.idempotency_key for e in parsed]
    if len(set(keys)) != len(keys):
        raise MalformedBatch("an idempotency key appears twice in the batch")
    if doc.get("batch_id") != batch_id(keys) or header_key != batch_id(keys):
        raise MalformedBatch("batch_id does not match the events' idempotency keys")
    if header_time != (parsed[-1].event_time or ""):
        raise MalformedBatch("Streamdr-Event-Time is not the last event's time")
    return parsed


def _incoming(event: Any) -> IncomingEvent:
    if not isinstance(event, dict):
        raise MalformedBatch("an event is not an object")
    key, lane, when = event.get("idempotency_key"), event.get("lane"), event.get("event_time")
    if not isinstance(key, str) or not key or len(key) > 200:
        raise MalformedBatch("an event has no idempotency_key (1-200 characters)")
    if not isinstance(lane, str) or len(lane) > 200:
        raise MalformedBatch("an event's lane must be a string (max 200)")
    if when is not None and not isinstance(when, str):
        raise MalformedBatch("an event's event_time must be a string")
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise MalformedBatch("an event's payload must be a JSON object")
    return IncomingEvent(key, lane, when, json.dumps(payload, separators=(",", ":")))
