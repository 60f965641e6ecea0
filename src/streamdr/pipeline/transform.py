"""Running a transformation on one event without letting it take the worker down.

A transformation is someone else's code: it may raise, return the wrong type, or return
payloads that cannot be serialised. Each of these becomes :class:`TransformFailed` with a
reason that ends up in the dead-letter headers; the worker itself keeps running.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from streamdr.artifacts.api import ChangeEvent, OutputEvent, TransformV1, output_event_id
from streamdr.workflows.model import TransformationRef

MAX_OUTPUTS = 1000

TransformLoader = Callable[[TransformationRef], TransformV1]
"""Returns the verified, runnable transformation a workflow pins (see artifacts.loader)."""


class TransformFailed(Exception):
    """The transformation raised or returned something that is not a list of OutputEvent."""


@dataclass(frozen=True)
class Delivery:
    """One output event ready to send: its idempotency key and serialised body."""

    idempotency_key: str
    body: bytes
    key: str | None
    headers: Mapping[str, str]
    event: ChangeEvent


def run_transform(transform: TransformV1, event: ChangeEvent) -> list[Delivery]:
    """Return the deliveries for ``event``; raises TransformFailed with the reason."""
    try:
        outputs = transform(event)
    except Exception as exc:
        raise TransformFailed(f"transformation raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(outputs, list):
        raise TransformFailed(
            f"transformation returned {type(outputs).__name__}, expected list[OutputEvent]"
        )
    if len(outputs) > MAX_OUTPUTS:
        raise TransformFailed(f"transformation returned {len(outputs)} outputs (max {MAX_OUTPUTS})")
    return [_delivery(event, index, out) for index, out in enumerate(outputs)]


def _delivery(event: ChangeEvent, index: int, out: object) -> Delivery:
    if not isinstance(out, OutputEvent):
        raise TransformFailed(f"output {index} is a {type(out).__name__}, not an OutputEvent")
    if not isinstance(out.payload, Mapping):
        raise TransformFailed(f"output {index} payload is not a mapping")
    if out.key is not None and not isinstance(out.key, str):
        raise TransformFailed(f"output {index} key is not a string")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in out.headers.items()):
        raise TransformFailed(f"output {index} headers must map str to str")
    try:
        body = json.dumps(dict(out.payload), separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TransformFailed(f"output {index} payload is not JSON-serialisable: {exc}") from exc
    return Delivery(output_event_id(event.event_id, index), body, out.key, out.headers, event)
