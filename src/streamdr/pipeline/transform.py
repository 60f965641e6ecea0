"""Running a transformation on events without letting it take the worker down.

A transformation is someone else's code: it may raise (SystemExit included), return the wrong
type, or return payloads that cannot be serialised. Each of these becomes
:class:`TransformFailed` with a reason that ends up in the dead-letter headers; the worker
itself keeps running. Signed artifacts run in their own process
(:mod:`streamdr.artifacts.host`), which raises TransformFailed itself for a hang or a
crash; plain callables (tests, benchmarks) run in-process through the same checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from streamdr.artifacts.api import ChangeEvent, OutputEvent, TransformV1, output_event_id
from streamdr.artifacts.errors import TransformFailed
from streamdr.workflows.model import TransformationRef

MAX_OUTPUTS = 1000

TransformLoader = Callable[[TransformationRef], TransformV1]
"""Returns the verified, runnable transformation a workflow pins (see artifacts.loader)."""


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
    except TransformFailed:
        raise
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from artifact code: this event
        raise TransformFailed(f"transformation raised {type(exc).__name__}: {exc}") from exc
    return deliveries_for(event, outputs)


def run_transforms(
    transform: TransformV1, events: Sequence[ChangeEvent]
) -> list[list[Delivery] | TransformFailed]:
    """Return, per event, its deliveries or the TransformFailed saying why it has none.

    A transformation with ``transform_batch`` (a host) gets the whole batch in one round trip.
    """
    batch = getattr(transform, "transform_batch", None)
    if batch is None:
        return [_one(transform, e) for e in events]
    return [_checked(e, out) for e, out in zip(events, batch(events), strict=True)]


def _one(transform: TransformV1, event: ChangeEvent) -> list[Delivery] | TransformFailed:
    try:
        return run_transform(transform, event)
    except TransformFailed as exc:
        return exc


def _checked(event: ChangeEvent, outputs: object) -> list[Delivery] | TransformFailed:
    if isinstance(outputs, TransformFailed):
        return outputs
    try:
        return deliveries_for(event, outputs)
    except TransformFailed as exc:
        return exc


def deliveries_for(event: ChangeEvent, outputs: object) -> list[Delivery]:
    """Return the deliveries of ``outputs``; raises TransformFailed when they are malformed."""
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
