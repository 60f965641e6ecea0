"""The source-database helpers drills wait on, against the session's real PostgreSQL."""

import uuid

import psycopg

from streamdr.harness.source_db import (
    create_change_table,
    create_database,
    current_wal_lsn,
    slot_confirmed_past,
)


def test_a_slot_is_past_a_mark_only_once_advanced_beyond_it(postgres):
    dbname = f"slots_{uuid.uuid4().hex[:8]}"
    create_database(postgres.dsn("postgres"), dbname)
    dsn = postgres.dsn(dbname)
    create_change_table(dsn, "t")
    unknown = current_wal_lsn(postgres.dsn("postgres"))
    assert unknown is not None
    assert not slot_confirmed_past(dsn, dbname, unknown)  # no slot yet
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (dbname,))
        conn.execute("INSERT INTO t VALUES (1, 1, 'before the mark')")
        mark = current_wal_lsn(dsn)
        assert mark is not None
        assert not slot_confirmed_past(dsn, dbname, mark)
        conn.execute("INSERT INTO t VALUES (2, 2, 'after the mark')")
        conn.execute("SELECT pg_replication_slot_advance(%s, pg_current_wal_lsn())", (dbname,))
        assert slot_confirmed_past(dsn, dbname, mark)
        conn.execute("SELECT pg_drop_replication_slot(%s)", (dbname,))
    assert current_wal_lsn("postgresql://127.0.0.1:1/none?connect_timeout=1") is None
    assert not slot_confirmed_past("postgresql://127.0.0.1:1/none", dbname, mark)
