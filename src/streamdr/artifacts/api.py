"""The transformation API, version 1 — the contract every signed artifact implements.

A transformation is a Python package whose entry point (``module:callable`` in its manifest) is
called once per change event and returns zero or more output events. The types here are small
frozen dataclasses so that artifacts signed today keep working when streamdr grows: a future v2
adds a new Protocol and the runtime keeps calling v1 artifacts through this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

API_VERSION = 1

Operation = Literal["insert", "update", "delete"]


@dataclass(frozen=True)
class ChangeEvent:
    """One committed row change from a source database (what CDC puts on Kafka)."""

    event_id: str
    source: str
    table: str  # "schema.table"
    operation: Operation
    key: Mapping[str, Any]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    commit_time: datetime
    position: str  # source position, e.g. the PostgreSQL commit LSN


@dataclass(frozen=True)
class OutputEvent:
    """One event to deliver to the workflow's sink.

    The delivery idempotency key is derived from the input's event id (``<event_id>`` for the
    first output, ``<event_id>/<n>`` for further ones), never from Kafka offsets.
    """

    payload: Mapping[str, Any]
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class TransformV1(Protocol):
    """The callable an artifact's entry point names."""

    def __call__(self, event: ChangeEvent) -> list[OutputEvent]:
        """Return the output events for ``event`` (an empty list filters it out)."""
        ...


def output_event_id(event_id: str, index: int) -> str:
    """Return the idempotency key of the ``index``-th output of ``event_id``."""
    return event_id if index == 0 else f"{event_id}/{index}"
