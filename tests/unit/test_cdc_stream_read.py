"""ReplicationStream.read over a scripted cursor: whole transactions only, across reads.

The cursor stands in for psycopg2's replication cursor (``read_message`` returns a message or
None when nothing is buffered); the connection is one end of a socket pair, so ``select`` is
real and reports nothing readable.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg2
import pytest

from streamdr.pipeline.cdc.source import SourceUnavailable
from streamdr.pipeline.cdc.stream import ReplicationStream


def begin(final_lsn: int) -> bytes:
    return b"B" + struct.pack("!qqi", final_lsn, 0, 7)


def commit(end_lsn: int) -> bytes:
    return b"C" + struct.pack("!bqqq", 0, end_lsn - 8, end_lsn, 0)


def relation() -> bytes:
    return (
        b"R"
        + struct.pack("!I", 1)
        + b"public\0items\0"
        + struct.pack("!bh", ord("d"), 1)
        + struct.pack("!b", 1)
        + b"id\0"
        + struct.pack("!Ii", 23, -1)
    )


def insert(row_id: int) -> bytes:
    raw = str(row_id).encode()
    value = b"t" + struct.pack("!i", len(raw)) + raw
    return b"I" + struct.pack("!I", 1) + b"N" + struct.pack("!h", 1) + value


class ScriptedCursor:
    """Returns queued messages, then None; raises ``fail`` when set and the queue is empty."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []
        self.fail: Exception | None = None

    def read_message(self) -> Any:
        if self.queue:
            return SimpleNamespace(payload=self.queue.pop(0))
        if self.fail is not None:
            raise self.fail
        return None


@pytest.fixture
def stream() -> Iterator[tuple[ReplicationStream, ScriptedCursor]]:
    ours, theirs = socket.socketpair()
    cur = ScriptedCursor()
    rs = ReplicationStream("dbname=x", "slot", "pub", "items")
    rs._conn, rs._cur = ours, cur
    yield rs, cur
    ours.close()
    theirs.close()


def test_a_transaction_cut_between_reads_comes_whole_in_the_next(stream):
    rs, cur = stream
    cur.queue = [relation(), begin(100), insert(1), commit(100), begin(200), insert(2)]
    first = rs.read(limit=100, wait=0.01)
    assert [t.end_position for t in first] == [100]
    cur.queue = [insert(3), commit(200)]
    [second] = rs.read(limit=100, wait=0.01)
    assert second.end_position == 200
    assert [c.key for c in second.changes] == [{"id": 2}, {"id": 3}]


def test_read_stops_at_the_limit_after_a_whole_transaction(stream):
    rs, cur = stream
    cur.queue = [relation(), begin(100), insert(1), insert(2), commit(100)]
    cur.queue += [begin(200), insert(3), commit(200)]
    assert [t.end_position for t in rs.read(limit=1, wait=0.01)] == [100]
    assert [t.end_position for t in rs.read(limit=1, wait=0.01)] == [200]


def test_a_lost_connection_closes_the_stream_and_is_retried(stream):
    rs, cur = stream
    cur.fail = psycopg2.OperationalError("server closed the connection unexpectedly")
    with pytest.raises(SourceUnavailable, match="server closed the connection"):
        rs.read(limit=100, wait=0.01)
    assert not rs.open
