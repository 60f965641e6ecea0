"""PostgreSQL logical decoding (pgoutput): set-up over SQL (psycopg 3), changes streamed.

One publication and one logical slot per source. ``pending`` reads the replication stream
(``stream.py``), which PostgreSQL decodes once per change; transactions read but not yet
acknowledged stay buffered here, so a cycle that failed on the Kafka side gets them again.
``acknowledge`` confirms a position to the server only after the reader has Kafka's
acknowledgement and the checkpoint is written; a lost stream drops the buffer and restarts
from the slot, which never moved past the checkpoint. ``peek`` (the SQL peek function) serves
`cdc status` when no reader holds the slot. Every library error becomes SourceUnavailable
(retried) or StateError (needs an operator) here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from typing import Any

import psycopg
from psycopg import sql

from streamdr.errors import InputError, StateError
from streamdr.pipeline.cdc.pgoutput import PgoutputDecoder, format_lsn, parse_lsn
from streamdr.pipeline.cdc.source import SourceUnavailable
from streamdr.pipeline.cdc.stream import ReplicationStream
from streamdr.pipeline.events import SourceTransaction
from streamdr.settings.model import SourceSettings

log = logging.getLogger(__name__)
IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CONNECT_TIMEOUT_S = 5
STREAM_WAIT_S = 0.2  # how long one ``pending`` call waits for the first transaction

PEEK = (
    "SELECT lsn, data FROM pg_logical_slot_peek_binary_changes("
    "%s, NULL, %s, 'proto_version', '1', 'publication_names', %s)"
)
KEYED_TABLES = """
SELECT n.nspname || '.' || c.relname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
  AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
ORDER BY 1
"""
# The primary key columns of every table the publication captures (events are keyed by them).
PRIMARY_KEYS = """
SELECT pt.schemaname || '.' || pt.tablename, array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_publication_tables pt
JOIN pg_namespace n ON n.nspname = pt.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE pt.pubname = %s
GROUP BY 1
"""


def slot_name(source_name: str, configured: str | None) -> str:
    """Return the slot (and publication) name: configured, else ``streamdr_<source>``."""
    name = configured or "streamdr_" + re.sub(r"[^a-z0-9_]", "_", source_name.lower())
    if not IDENT.match(name):
        raise InputError(
            f"slot name {name!r} is not a valid replication slot name",
            hint="Use lower-case letters, digits and '_' (max 63).",
        )
    return name


class PostgresSource:
    """A PostgreSQL database read through a pgoutput slot."""

    kind = "postgres"
    waits_for_changes = True  # ``pending`` blocks up to STREAM_WAIT_S: no idle sleep needed

    def __init__(self, name: str, settings: SourceSettings) -> None:
        self.name = name
        self.settings = settings
        self.slot = slot_name(name, settings.slot)
        self.publication = self.slot
        self._conn: psycopg.Connection[Any] | None = None
        self._stream: ReplicationStream | None = None
        self._unacked: list[SourceTransaction] = []
        self._primary_keys: dict[str, list[str]] | None = None

    def conninfo(self) -> str:
        """Return the libpq connection string, with the password from the environment."""
        extra: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": f"streamdr-cdc-{self.name}",
        }
        if self.settings.password_env:
            password = os.environ.get(self.settings.password_env)
            if password is None:
                raise InputError(
                    f"environment variable {self.settings.password_env} (password of source "
                    f"{self.name!r}) is not set",
                    hint=f"Export {self.settings.password_env}; passwords never live in files.",
                )
            extra["password"] = password
        return psycopg.conninfo.make_conninfo(self.settings.dsn or "", **extra)

    def _db(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self.conninfo(), autocommit=True)
            except psycopg.OperationalError as exc:
                raise SourceUnavailable(f"cannot connect to source {self.name!r}: {exc}") from exc
        return self._conn

    def _run(self, query: Any, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            cur = self._db().execute(query, args)
            return cur.fetchall() if cur.description else []
        except psycopg.errors.ObjectInUse as exc:  # an OperationalError: caught first
            # Another session holds the slot for a moment (`cdc status`) or for good (a second
            # reader): retried with backoff, and alerted on when it persists.
            raise SourceUnavailable(
                f"slot {self.slot} of source {self.name!r} is in use by another session "
                "(only one `streamdr cdc run` per source)"
            ) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()
            raise SourceUnavailable(f"source {self.name!r}: {exc}".strip()) from exc
        except psycopg.Error as exc:
            raise StateError(
                f"source {self.name!r} refused {str(query)[:60]!r}: {exc}",
                hint="Check wal_level=logical, the user's REPLICATION right and the tables.",
            ) from exc

    def open(self) -> list[str]:
        """Connect, create the publication and slot when missing; return the tables."""
        tables = list(self.settings.tables) or [r[0] for r in self._run(KEYED_TABLES)]
        if not tables:
            raise StateError(
                f"source {self.name!r} has no tables with a primary key to capture",
                hint="Create the tables first, or list them under sources.<name>.tables.",
            )
        self._ensure_publication(tables)
        self._primary_keys = None  # the publication may have changed: read them again
        return tables

    def _ensure_publication(self, tables: list[str]) -> None:
        idents = sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in tables)
        exists = self._run("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,))
        verb = (
            "ALTER PUBLICATION {} SET TABLE {}" if exists else "CREATE PUBLICATION {} FOR TABLE {}"
        )
        self._run(sql.SQL(verb).format(sql.Identifier(self.publication), idents))

    def slot_state(self) -> tuple[int, int] | None:
        """Return (confirmed_flush_lsn, current WAL lsn), or None when the slot is missing."""
        rows = self._run(
            "SELECT confirmed_flush_lsn::text, pg_current_wal_lsn()::text "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (self.slot,),
        )
        if not rows or rows[0][0] is None:
            return None
        return parse_lsn(rows[0][0]), parse_lsn(rows[0][1])

    def resume_from(self, checkpoint: int | None) -> str | None:
        """Create the slot if missing (refused after a checkpoint), advance it to the checkpoint.

        Returns a warning when the slot is already *past* the checkpoint (the checkpoint came
        from a replica of the Kafka site that lagged, e.g. after a failover): changes between
        the two were acknowledged by the other site and cannot be read again here. Raises
        StateError when a checkpoint exists but the slot is gone: changes committed while no
        slot existed cannot be captured, and an operator must decide.
        """
        state = self.slot_state()
        if state is None:
            if checkpoint is not None:
                raise StateError(
                    f"slot {self.slot} of source {self.name!r} is missing although Kafka holds "
                    f"a checkpoint at {format_lsn(checkpoint)}; changes since then may be lost",
                    hint=f"If accepted, drop the checkpoint with `streamdr cdc reset {self.name}` "
                    "and start again (a new slot starts from now); else restore the database.",
                )
            self._run("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (self.slot,))
            log.info("created slot %s", self.slot)
            return None
        confirmed, _ = state
        if checkpoint is not None and checkpoint > confirmed:
            # The last run stopped between checkpoint and advance: finish that advance.
            self.acknowledge(checkpoint)
        if checkpoint is not None and checkpoint < confirmed:
            return (
                f"slot {self.slot} is at {format_lsn(confirmed)}, past the checkpoint "
                f"{format_lsn(checkpoint)} on this Kafka site: changes in between were "
                "acknowledged by another site and are only there"
            )
        return None

    def pending(self, after: int, limit: int) -> list[SourceTransaction]:
        """Return whole committed transactions ending after ``after``: the unacknowledged ones
        read before, then what the stream brings within STREAM_WAIT_S. Raises
        SourceUnavailable."""
        if self._stream is None or not self._stream.open:
            self._unacked = []
            self._stream = ReplicationStream(
                self.conninfo(), self.slot, self.publication, self.name, self.primary_keys()
            )
            self._stream.start(after)
        self._unacked = [t for t in self._unacked if t.end_position > after]
        have = sum(len(t.changes) for t in self._unacked)
        try:
            if have < limit:
                wait = 0.0 if self._unacked else STREAM_WAIT_S
                self._unacked += self._stream.read(limit - have, wait)
            else:
                self._stream.keepalive()
        except SourceUnavailable:
            self._unacked = []
            raise
        return [t for t in self._unacked if t.end_position > after]

    def peek(self, after: int, limit: int) -> list[SourceTransaction]:
        """Return pending transactions without consuming them (SQL peek; the slot must be
        free). Raises SourceUnavailable, also when a reader streams the slot."""
        rows = self._run(PEEK, (self.slot, limit, self.publication))
        decoder = PgoutputDecoder(self.primary_keys())
        out = []
        for _lsn, data in rows:
            txn = decoder.feed(bytes(data))
            if txn is not None and txn.end_position > after:
                out.append(txn)
        return out

    def primary_keys(self) -> dict[str, list[str]]:
        """Return the primary key columns per captured table (read once per ``open``).

        Raises SourceUnavailable or StateError as every query here.
        """
        if self._primary_keys is None:
            rows = self._run(PRIMARY_KEYS, (self.publication,))
            self._primary_keys = {table: list(cols) for table, cols in rows}
        return self._primary_keys

    def acknowledge(self, upto: int) -> None:
        """Let PostgreSQL move the slot to ``upto`` (and recycle that WAL).

        Streaming: a standby status update; otherwise (start-up, no stream yet) the SQL
        ``pg_replication_slot_advance``. Raises SourceUnavailable.
        """
        self._unacked = [t for t in self._unacked if t.end_position > upto]
        if self._stream is not None and self._stream.open:
            self._stream.confirm(upto)
            return
        self._run(
            "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot, format_lsn(upto))
        )

    def stream_lag(self) -> dict[str, Any] | None:
        """Return the walsender streaming this slot (pid, lag in seconds), None when no
        session streams it. Raises SourceUnavailable."""
        rows = self._run(
            "SELECT s.active_pid, EXTRACT(EPOCH FROM r.flush_lag)::float8, "
            "s.confirmed_flush_lsn::text FROM pg_replication_slots s "
            "LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid "
            "WHERE s.slot_name = %s AND s.active",
            (self.slot,),
        )
        if not rows:
            return None
        pid, lag, confirmed = rows[0]
        return {"walsender_pid": pid, "flush_lag_seconds": lag or 0.0, "confirmed": confirmed}

    def format_position(self, position: int) -> str:
        """Return ``position`` as an LSN."""
        return format_lsn(position)

    def drop(self) -> None:
        """Drop the slot and publication (stops WAL retention for this source)."""
        self._run(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (self.slot,),
        )
        self._run(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(self.publication)))

    def close(self) -> None:
        """Stop streaming and disconnect; unacknowledged transactions are read again later."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._unacked = []
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
