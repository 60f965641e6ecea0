"""The PostgreSQL source over the streaming replication protocol, on a real PostgreSQL.

No Kafka here: these pin what the reader relies on — read transactions stay available until
acknowledged, the slot moves only on acknowledge, a new stream resumes from there, and
`cdc status` still answers while a reader streams the slot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from streamdr.harness.local_postgres import LocalPostgres
from streamdr.harness.source_db import create_change_table, create_database
from streamdr.pipeline.cdc.postgres import PostgresSource
from streamdr.pipeline.cdc.source import SourceUnavailable
from streamdr.settings.model import SourceSettings


@pytest.fixture
def dsn(postgres: LocalPostgres) -> str:
    """A fresh database with one change table."""
    dbname = "s" + uuid.uuid4().hex[:10]
    create_database(postgres.dsn(), dbname)
    dsn = postgres.dsn(dbname)
    create_change_table(dsn, "public.items")
    return dsn


@pytest.fixture
def make_source(dsn: str) -> Iterator:
    made: list[PostgresSource] = []

    def make() -> PostgresSource:
        settings = SourceSettings(kind="postgres", dsn=dsn, topic_prefix="t")
        src = PostgresSource("streamtest", settings)
        made.append(src)
        return src

    yield make
    for src in made:
        src.close()
    made[0].drop()
    made[0].close()


def _commit(dsn: str, first: int, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=False) as conn:
        for i in range(first, first + rows):
            conn.execute("INSERT INTO items VALUES (%s, %s, 'x')", (i, i))


def _read_all(src: PostgresSource, after: int, want: int) -> list:
    got: list = []
    for _ in range(50):
        got = src.pending(after, 1000)
        if len(got) >= want:
            break
        time.sleep(0.1)  # with transactions buffered, pending does not wait for more
    return got


def test_transactions_stay_until_acknowledged_and_a_new_stream_resumes_after_the_ack(
    dsn, make_source
):
    src = make_source()
    assert src.open() == ["public.items"]
    assert src.resume_from(None) is None
    _commit(dsn, 1, 3)
    _commit(dsn, 4, 2)
    _commit(dsn, 6, 1)
    txns = _read_all(src, 0, 3)
    assert [len(t.changes) for t in txns] == [3, 2, 1]
    # A failed cycle asks again: the same transactions, with the same commit positions.
    assert [t.commit_position for t in src.pending(0, 1000)] == [t.commit_position for t in txns]
    src.acknowledge(txns[0].end_position)
    assert [len(t.changes) for t in src.pending(txns[0].end_position, 1000)] == [2, 1]
    src.close()  # a crash before the next acknowledgement

    again = make_source()
    again.open()
    again.resume_from(txns[0].end_position)
    resumed = _read_all(again, txns[0].end_position, 2)
    assert [t.commit_position for t in resumed] == [t.commit_position for t in txns[1:]]
    assert resumed[0].changes[0].after == {"id": 4, "change_no": 4, "note": "x"}


def test_the_slot_moves_only_when_acknowledged(dsn, make_source):
    src = make_source()
    src.open()
    src.resume_from(None)
    before, _ = src.slot_state() or (0, 0)
    _commit(dsn, 1, 5)
    [txn] = _read_all(src, 0, 1)
    watcher = make_source()
    assert watcher.slot_state()[0] == before  # read, not acknowledged: the slot stays
    src.acknowledge(txn.end_position)
    src.pending(txn.end_position, 10)  # the status update goes out on the stream
    assert watcher.slot_state()[0] >= txn.end_position


def test_status_answers_while_a_reader_streams_the_slot(dsn, make_source):
    src = make_source()
    src.open()
    src.resume_from(None)
    src.pending(0, 10)
    status = make_source()
    with pytest.raises(SourceUnavailable, match="in use"):
        status.peek(0, 1)
    streaming = status.stream_lag()
    assert streaming is not None and streaming["walsender_pid"] > 0
    src.close()
    assert _wait_free(status)
    assert status.peek(0, 1) == []


def _wait_free(src: PostgresSource) -> bool:
    for _ in range(50):
        if src.stream_lag() is None:
            return True
        time.sleep(0.1)
    return False


def test_a_second_reader_of_the_slot_is_told_it_is_in_use(dsn, make_source):
    src = make_source()
    src.open()
    src.resume_from(None)
    src.pending(0, 10)
    second = make_source()
    with pytest.raises(SourceUnavailable, match="in use by another session"):
        second.pending(0, 10)
    src.close()
    assert _wait_free(second)
    _commit(dsn, 1, 2)
    assert [len(t.changes) for t in _read_all(second, 0, 1)] == [2]
