"""The wire between the worker and its transformation host: framing and the event documents.

Each message is one frame: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. The
worker sends a batch of change events per frame; the host answers with one frame per event, so
the worker can tell which event of a batch hung or crashed the host. This module is imported by
the host process too, so it uses the standard library and ``streamdr.artifacts.api`` only.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from typing import Any, BinaryIO

from streamdr.artifacts.api import ChangeEvent, OutputEvent

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 << 20


class WireError(Exception):
    """A frame is truncated, too large or not a JSON object."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """Return ``message`` as one frame; raises WireError when it is too large."""
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME_BYTES:
        raise WireError(f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """Return the JSON object in a frame body; raises WireError for anything else."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise WireError("frame is not a JSON object")
    return doc


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """Return the next frame of a blocking ``stream``, or None at a clean end of stream.

    Raises WireError for a truncated or oversized frame.
    """
    head = stream.read(HEADER.size)
    if not head:
        return None
    if len(head) < HEADER.size:
        raise WireError("truncated frame header")
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME_BYTES:
        raise WireError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    body = stream.read(size)
    if len(body) < size:
        raise WireError("truncated frame body")
    return decode_body(body)


def event_to_doc(event: ChangeEvent) -> dict[str, Any]:
    """Return ``event`` as a JSON-ready document."""
    return {
        "event_id": event.event_id,
        "source": event.source,
        "table": event.table,
        "operation": event.operation,
        "key": dict(event.key),
        "before": None if event.before is None else dict(event.before),
        "after": None if event.after is None else dict(event.after),
        "commit_time": event.commit_time.isoformat(),
        "position": event.position,
    }


def event_from_doc(doc: dict[str, Any]) -> ChangeEvent:
    """Return the ChangeEvent of a document made by :func:`event_to_doc`."""
    return ChangeEvent(
        event_id=doc["event_id"],
        source=doc["source"],
        table=doc["table"],
        operation=doc["operation"],
        key=doc["key"],
        before=doc["before"],
        after=doc["after"],
        commit_time=datetime.fromisoformat(doc["commit_time"]),
        position=doc["position"],
    )


def output_from_doc(doc: object, index: int) -> OutputEvent:
    """Return the OutputEvent a host sent; raises WireError when the document is malformed.

    The host runs untrusted code, so every field is checked here; the usual output checks
    (payload mapping, str headers, JSON-serialisable) run again in ``run_transform``.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        raise WireError(f"output {index} is not an object with a payload object")
    headers = doc.get("headers") or {}
    if not isinstance(headers, dict):
        raise WireError(f"output {index} headers are not an object")
    return OutputEvent(payload=doc["payload"], key=doc.get("key"), headers=headers)
