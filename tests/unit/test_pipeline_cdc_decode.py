"""The pgoutput decoder on hand-built protocol-1 messages, and SQLite change rows."""

import struct
from datetime import UTC, datetime

import pytest

from streamdr.pipeline.cdc.pgoutput import (
    DecodeError,
    PgoutputDecoder,
    format_lsn,
    parse_lsn,
    pg_time,
)
from streamdr.pipeline.cdc.sqlite import change_from_row, trigger_sql


def s(text):
    return text.encode() + b"\0"


def begin(final_lsn, micros, xid=7):
    return b"B" + struct.pack("!qqi", final_lsn, micros, xid)


def commit(commit_lsn, end_lsn, micros):
    return b"C" + struct.pack("!bqqq", 0, commit_lsn, end_lsn, micros)


def relation(oid, schema, name, cols):
    body = struct.pack("!I", oid) + s(schema) + s(name) + struct.pack("!bh", ord("d"), len(cols))
    for col_name, type_oid, key in cols:
        body += struct.pack("!b", 1 if key else 0) + s(col_name) + struct.pack("!Ii", type_oid, -1)
    return b"R" + body


def tup(*values):
    body = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            body += b"n"
        elif v == "<toast>":
            body += b"u"
        else:
            raw = v.encode()
            body += b"t" + struct.pack("!i", len(raw)) + raw
    return body


COLS = [("id", 23, True), ("amount", 1700, False), ("paid", 16, False), ("meta", 3802, False)]


def test_lsn_text_round_trip():
    assert format_lsn(0x16B3748) == "0/16B3748"
    assert parse_lsn("1/A") == (1 << 32) | 10
    assert parse_lsn(format_lsn(123456789012)) == 123456789012
    with pytest.raises(ValueError):
        parse_lsn("16B3748")


def test_transaction_with_insert_update_delete():
    dec = PgoutputDecoder()
    ts = 800_000_000_000_000
    msgs = [
        begin(1000, ts),
        relation(16384, "public", "orders", COLS),
        b"I" + struct.pack("!I", 16384) + b"N" + tup("1", "12.50", "t", '{"a": [1]}'),
        b"U" + struct.pack("!I", 16384) + b"N" + tup("1", "13.00", "f", "<toast>"),
        b"U"
        + struct.pack("!I", 16384)
        + b"K"
        + tup("1", None, None, None)
        + b"N"
        + tup("2", "13.00", "f", None),
        b"D" + struct.pack("!I", 16384) + b"K" + tup("2", None, None, None),
    ]
    assert all(dec.feed(m) is None for m in msgs)
    txn = dec.feed(commit(1000, 1100, ts))
    assert txn is not None
    assert (txn.commit_position, txn.end_position) == ("0/3E8", 1100)
    assert txn.commit_time == pg_time(ts) and txn.commit_time.tzinfo is UTC
    ins, upd, moved, dele = txn.changes
    assert ins.operation == "insert" and ins.key == {"id": 1}
    assert ins.after == {"id": 1, "amount": "12.50", "paid": True, "meta": {"a": [1]}}
    assert upd.after == {"id": 1, "amount": "13.00", "paid": False}  # unchanged TOAST left out
    assert moved.before == {"id": 1, "amount": None, "paid": None, "meta": None}
    assert moved.key == {"id": 2}
    assert dele.operation == "delete" and dele.key == {"id": 2} and dele.after is None
    assert [c.ordinal for c in txn.changes] == [0, 1, 2, 3]
    assert all(c.problem is None for c in txn.changes)


def test_tables_without_key_and_truncates_become_problems():
    dec = PgoutputDecoder()
    dec.feed(begin(5, 0))
    dec.feed(relation(1, "public", "nokey", [("a", 23, False)]))
    dec.feed(b"I" + struct.pack("!I", 1) + b"N" + tup("1"))
    dec.feed(b"T" + struct.pack("!ib", 1, 0) + struct.pack("!I", 1))
    txn = dec.feed(commit(5, 6, 0))
    assert "no primary key" in txn.changes[0].problem
    assert "TRUNCATE of public.nokey" in txn.changes[1].problem


@pytest.mark.parametrize(
    "data",
    [b"Z", b"B\x00", b"I" + struct.pack("!I", 99) + b"N", b"C" + struct.pack("!bqqq", 0, 1, 2, 3)],
)
def test_malformed_messages_raise(data):
    with pytest.raises(DecodeError):
        PgoutputDecoder().feed(data)


def test_unknown_relation_inside_a_transaction_raises():
    dec = PgoutputDecoder()
    dec.feed(begin(1, 0))
    with pytest.raises(DecodeError, match="never described"):
        dec.feed(b"I" + struct.pack("!I", 42) + b"N" + tup("1"))


def test_sqlite_change_rows():
    txn = change_from_row(
        7, "orders", "insert", '{"id": 3}', None, '{"id": 3, "q": 1}', "2026-01-02T03:04:05.123Z"
    )
    assert (txn.commit_position, txn.end_position) == ("7", 7)
    assert txn.commit_time == datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    change = txn.changes[0]
    assert change.table == "main.orders" and change.key == {"id": 3} and change.problem is None
    bad = change_from_row(8, "orders", "insert", "{not json", None, None, "x")
    assert "malformed change row 8" in bad.changes[0].problem
    weird = change_from_row(9, "orders", "merge", '{"id": 1}', None, None, "x")
    assert "unknown operation" in weird.changes[0].problem


def test_trigger_sql_names_every_column():
    stmts = trigger_sql("orders", ["id", "total"], ["id"])
    assert len(stmts) == 3
    assert "AFTER INSERT" in stmts[0] and "'total', NEW.\"total\"" in stmts[0]
    assert 'OLD."id"' in stmts[2]


def test_sqlite_source_reads_prunes_and_warns_when_the_checkpoint_lags(tmp_path):
    import sqlite3

    from streamdr.pipeline.cdc.sqlite import SqliteSource

    db = tmp_path / "s.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    src = SqliteSource("s", db, [])
    assert src.open() == ["main.t"]
    for i in range(5):
        conn.execute("INSERT INTO t VALUES (?, 'x')", (i,))
    txns = src.pending(0, 100)
    assert [t.end_position for t in txns] == [1, 2, 3, 4, 5]
    assert src.pending(3, 100)[0].end_position == 4
    assert src.resume_from(2) is None  # rows 3..5 still there: nothing lost
    src.acknowledge(5)  # another reader, checkpointing on another Kafka site, pruned them
    warning = src.resume_from(2)
    assert warning is not None and "another Kafka site" in warning
    assert src.resume_from(5) is None
    src.close()


def _row_changes_of_one_row(dec):
    """Feed an insert and two updates of row 1 of a REPLICA IDENTITY FULL table; return keys."""
    ts = 800_000_000_000_000
    # With REPLICA IDENTITY FULL pgoutput flags *every* column as part of the key.
    full = [("id", 23, True), ("change_no", 20, True), ("note", 25, True)]
    msgs = [
        begin(2000, ts),
        relation(16390, "public", "items", full),
        b"I" + struct.pack("!I", 16390) + b"N" + tup("1", "1", "n"),
        b"U" + struct.pack("!I", 16390) + b"O" + tup("1", "1", "n") + b"N" + tup("1", "2", "u"),
        b"U" + struct.pack("!I", 16390) + b"O" + tup("1", "2", "u") + b"N" + tup("1", "3", "u"),
    ]
    assert all(dec.feed(m) is None for m in msgs)
    txn = dec.feed(commit(2000, 2100, ts))
    assert txn is not None
    return [c.key for c in txn.changes]


def test_every_change_of_a_row_has_the_primary_key_as_key_under_replica_identity_full():
    # The record key decides partition and ordering lane: it must be the same for every change
    # of a row. Keyed by pgoutput's identity flags, each update of a FULL table got a new key
    # (all columns), so a row's changes spread over partitions and lanes and were applied out
    # of order (test_a_key_stays_in_order_while_other_keys_overtake_it[per-event] on the lab).
    keys = _row_changes_of_one_row(PgoutputDecoder({"public.items": ["id"]}))
    assert keys == [{"id": 1}, {"id": 1}, {"id": 1}]


def test_without_known_primary_keys_the_replica_identity_flags_key_the_change():
    keys = _row_changes_of_one_row(PgoutputDecoder())
    assert keys[0] == {"id": 1, "change_no": 1, "note": "n"}
