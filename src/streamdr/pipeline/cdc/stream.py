"""A pgoutput stream over PostgreSQL's streaming replication protocol (psycopg2).

``START_REPLICATION SLOT … LOGICAL`` makes the walsender decode each change once and push it,
where the SQL peek functions re-decoded the WAL from the slot's restart point on every read.
psycopg 3 has no COPY BOTH support, so this one module uses psycopg2's
``LogicalReplicationConnection``. The slot's ``confirmed_flush_lsn`` moves only when
:meth:`ReplicationStream.confirm` is called — after the reader's checkpoint is in Kafka.
psycopg2 itself moves it further only on a keepalive after everything received was confirmed,
i.e. over WAL that carried nothing for this publication.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras

from streamdr.pipeline.cdc.pgoutput import PgoutputDecoder, format_lsn
from streamdr.pipeline.cdc.source import SourceUnavailable
from streamdr.pipeline.events import SourceTransaction

STATUS_INTERVAL_S = 1.0  # how often psycopg2 repeats the confirmed position to the server


class ReplicationStream:
    """One replication connection streaming one slot's committed transactions."""

    def __init__(
        self,
        conninfo: str,
        slot: str,
        publication: str,
        source: str,
        primary_keys: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.slot = slot
        self.publication = publication
        self.source = source
        # Changes are keyed by each table's primary key, not pgoutput's replica identity flags
        # (see PgoutputDecoder): the same map for every session of this stream.
        self.primary_keys = dict(primary_keys or {})
        self.decoder = PgoutputDecoder(self.primary_keys)
        self._conn: Any = None
        self._cur: Any = None

    @property
    def open(self) -> bool:
        """Return True while the replication connection is up."""
        return self._cur is not None

    def start(self, start_lsn: int) -> None:
        """Connect and start streaming after ``start_lsn`` (the server uses at least the slot's
        confirmed position). Raises SourceUnavailable; ObjectInUse (another reader) included."""
        try:
            self._conn = psycopg2.connect(
                self.conninfo, connection_factory=psycopg2.extras.LogicalReplicationConnection
            )
            self._cur = self._conn.cursor()
            self._cur.start_replication(
                slot_name=self.slot,
                decode=False,
                start_lsn=format_lsn(start_lsn),
                options={"proto_version": "1", "publication_names": self.publication},
                status_interval=STATUS_INTERVAL_S,
            )
        except psycopg2.errors.ObjectInUse as exc:
            # Another reader streams this slot (or its walsender has not noticed yet that the
            # reader died): retried with backoff, alerted on when it persists.
            self.close()
            raise SourceUnavailable(
                f"slot {self.slot} of source {self.source!r} is in use by another session "
                f"(only one `streamdr cdc run` per source): {_text(exc)}"
            ) from exc
        except psycopg2.Error as exc:
            self.close()
            raise SourceUnavailable(
                f"source {self.source!r}: cannot stream slot {self.slot}: {_text(exc)}"
            ) from exc
        # Relations are described again in each session.
        self.decoder = PgoutputDecoder(self.primary_keys)

    def read(self, limit: int, wait: float) -> list[SourceTransaction]:
        """Return whole transactions as they arrive: stop at about ``limit`` changes, or when
        nothing more came for ``wait`` seconds after at least one. Raises SourceUnavailable,
        DecodeError."""
        out: list[SourceTransaction] = []
        changes = 0
        deadline = time.monotonic() + wait
        while changes < limit:
            msg = self._message()
            if msg is None:
                if out and not self._readable(0):
                    break
                left = deadline - time.monotonic()
                if left <= 0 or not self._readable(left):
                    break
                continue
            txn = self.decoder.feed(msg.payload)
            if txn is not None:
                out.append(txn)
                changes += len(txn.changes)
        return out

    def confirm(self, upto: int) -> None:
        """Tell the server everything up to ``upto`` is durable (the slot may move there)."""
        try:
            self._cur.send_feedback(write_lsn=upto, flush_lsn=upto, apply_lsn=upto, force=True)
        except psycopg2.Error as exc:
            self.close()
            raise SourceUnavailable(f"source {self.source!r}: {_text(exc)}") from exc

    def keepalive(self) -> None:
        """Repeat the confirmed position (nothing new): a reader that stopped reading while
        Kafka is down keeps its stream instead of hitting ``wal_sender_timeout``."""
        self.confirm(0)  # psycopg2 never moves a position backwards: zeros resend the last

    def _message(self) -> Any:
        try:
            return self._cur.read_message()
        except psycopg2.Error as exc:
            self.close()
            raise SourceUnavailable(f"source {self.source!r}: {_text(exc)}") from exc

    def _readable(self, timeout: float) -> bool:
        try:
            ready, _, _ = select.select([self._conn], [], [], timeout)
        except (OSError, ValueError) as exc:
            self.close()
            raise SourceUnavailable(f"source {self.source!r}: {exc}") from exc
        return bool(ready)

    def close(self) -> None:
        """Stop streaming and disconnect (the slot becomes free for another session)."""
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
        self._conn = self._cur = None


def _text(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
