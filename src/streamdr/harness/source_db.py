"""The source database of a harness pipeline: its change table and CDC's replication slot.

Every row of the change table carries a ``change_no``, the number the load (or the test) gave
the change that wrote it; the endpoint's copy of that number is how a ledger matches what was
committed at the source with what was applied at the endpoint.
"""

from __future__ import annotations

import psycopg


def create_database(admin_dsn: str, dbname: str) -> None:
    """Create ``dbname`` through the server's ``admin_dsn``; raises psycopg.Error if it exists."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')


def create_change_table(dsn: str, table: str, *, full_identity: bool = False) -> None:
    """Create ``table (id, change_no, note)``; ``full_identity`` logs whole old rows.

    Updates and deletes carry the old row in the WAL only with REPLICA IDENTITY FULL; a load
    that only inserts does not need it.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, change_no bigint NOT NULL, note text)"
        )
        if full_identity:
            conn.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")


def slot_exists(dsn: str, dbname: str) -> bool:
    """Return True once a replication slot exists on ``dbname`` (False when unreachable).

    CDC captures only what is committed after its slot exists, so loads start after this.
    """
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            query = "SELECT 1 FROM pg_replication_slots WHERE database = %s"
            return bool(conn.execute(query, (dbname,)).fetchone())
    except psycopg.Error:
        return False


def current_wal_lsn(dsn: str) -> str | None:
    """Return the server's current WAL position as text (``0/16B3748``); None when unreachable.

    Every transaction committed before this call has a commit LSN below the returned one.
    """
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def slot_confirmed_past(dsn: str, dbname: str, lsn: str) -> bool:
    """Return True when every replication slot on ``dbname`` is confirmed at or past ``lsn``.

    CDC advances its slot only after Kafka acknowledged the changes, so this means every change
    committed before ``lsn`` was written to Kafka. False when there is no slot or no server.
    """
    query = (
        "SELECT count(*) > 0 AND bool_and(confirmed_flush_lsn >= %s::pg_lsn) "
        "FROM pg_replication_slots WHERE database = %s"
    )
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(query, (lsn, dbname)).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def row_ids(dsn: str, table: str) -> set[int]:
    """Return the ``id`` of every row of ``table`` (a drill's own change table).

    The database is the truth of what was committed: a write whose acknowledgement was lost in a
    crash (committed, but the client saw an error) is there, and CDC will deliver it. Raises
    psycopg.Error when the database does not answer.
    """
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        # ``table`` is the rig's own constant, never external input.
        return {row[0] for row in conn.execute(f"SELECT id FROM {table}")}
