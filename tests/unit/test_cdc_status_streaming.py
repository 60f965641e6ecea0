"""`cdc status` when a streaming reader holds the slot: the walsender's lag, not an outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streamdr.pipeline.cdc import service
from streamdr.pipeline.cdc.source import SourceUnavailable
from streamdr.pipeline.events import SourceTransaction


class HeldSlot:
    """A source whose slot a reader streams (peek refused as in use)."""

    def __init__(self, streaming: dict[str, Any] | None) -> None:
        self.streaming = streaming

    def peek(self, after: int, limit: int) -> list[SourceTransaction]:
        raise SourceUnavailable("slot s of source 'x' is in use by another session")

    def stream_lag(self) -> dict[str, Any] | None:
        return self.streaming


class FreeSlot:
    def __init__(self, txns: list[SourceTransaction]) -> None:
        self.txns = txns

    def peek(self, after: int, limit: int) -> list[SourceTransaction]:
        return self.txns[:limit]


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(service.time, "sleep", lambda _s: None)


def test_a_streamed_slot_reports_the_walsender_flush_lag():
    doc: dict[str, Any] = {}
    held = HeldSlot({"walsender_pid": 42, "flush_lag_seconds": 1.25, "confirmed": "0/1"})
    service._pending_into(doc, held, 0, datetime.now(UTC))
    assert doc["source_reachable"] is True
    assert doc["lag_seconds"] == 1.25
    assert doc["streaming"]["walsender_pid"] == 42


def test_a_slot_in_use_but_not_streamed_is_still_an_error():
    with pytest.raises(SourceUnavailable, match="in use"):
        service._pending_into({}, HeldSlot(None), 0, datetime.now(UTC))


def test_a_free_slot_is_peeked_and_the_lag_is_the_oldest_pending_commit():
    now = datetime.now(UTC)
    txn = SourceTransaction("0/10", 16, now - timedelta(seconds=30), ())
    doc: dict[str, Any] = {}
    service._pending_into(doc, FreeSlot([txn]), 0, now)
    assert doc["pending"] is True
    assert doc["lag_seconds"] == 30.0
