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
