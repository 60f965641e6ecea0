"""A drill's clean-up against the session's real PostgreSQL: a left slot no longer blocks it."""

import uuid

import psycopg

from streamdr.drills.drill_database import drop_databases
from streamdr.harness.source_db import create_database


def _exists(conn: psycopg.Connection, query: str, name: str) -> bool:
    return conn.execute(query, (name,)).fetchone() is not None


def test_a_database_with_a_left_replication_slot_is_dropped_with_its_slot(postgres):
    dbname = f"drill_{uuid.uuid4().hex[:8]}"
    create_database(postgres.dsn("postgres"), dbname)
    with psycopg.connect(postgres.dsn(dbname), autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (dbname,))
    with psycopg.connect(postgres.dsn("postgres"), autocommit=True) as conn:
        # Without the slot dropped first, PostgreSQL refuses DROP DATABASE even WITH (FORCE).
        assert drop_databases(conn, [dbname]) == []
        assert not _exists(conn, "SELECT 1 FROM pg_database WHERE datname = %s", dbname)
        assert not _exists(conn, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", dbname)
