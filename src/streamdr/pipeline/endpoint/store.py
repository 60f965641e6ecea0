"""The reference endpoint's idempotency store (SQLite): each key is applied at most once.

``apply`` inserts the key and bumps the counters in one transaction, so a crash can never leave
a key applied without being counted or counted without being applied. WAL with
``synchronous=NORMAL`` survives a kill -9 of the endpoint (not a power cut — it is a reference).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamdr.errors import InputError
from streamdr.fsutil import create_private_file, ensure_dir
from streamdr.pipeline.batch import IncomingEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    workflow TEXT,
    event_time TEXT,
    applied_at REAL NOT NULL,
    payload TEXT NOT NULL,
    site TEXT
);
CREATE TABLE IF NOT EXISTS counters (
    channel TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (channel, name)
);
"""
COUNTERS = (
    "received",
    "applied",
    "duplicates",
    "rejected_signature",
    "rejected_bad_request",
    "failed_injected",
    "refused_down",
)


@dataclass(frozen=True)
class Applied:
    """One applied event, as ``/applied`` lists it."""

    seq: int
    idempotency_key: str
    channel: str
    workflow: str | None
    event_time: str | None
    applied_at: float
    payload: str
    site: str | None  # the Kafka site that delivered it (Streamdr-Site header), if sent

    def as_dict(self) -> dict[str, Any]:
        """Return the row for JSON."""
        return self.__dict__.copy()


def _create_private(path: Path) -> None:
    """Create the database file 0600 (its directory 0700 when new) before SQLite opens it.

    SQLite gives its -wal and -shm files the mode of the database file, so they stay private
    too. An existing file is narrowed to 0600: it holds the client's payloads.
    """
    ensure_dir(path.parent)
    try:
        create_private_file(path)
    except OSError as exc:
        raise InputError(
            f"cannot create the endpoint store {path}: {exc.strerror or exc}",
            hint="Choose a --db path in a directory you can write to.",
        ) from exc


class IdempotencyStore:
    """Applied keys and counters in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        _create_private(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._add_site_column()
        self._lock = threading.Lock()

    def _add_site_column(self) -> None:
        # Files written before the site column existed get it added in place.
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(applied)")}
        if "site" not in columns:
            self._db.execute("ALTER TABLE applied ADD COLUMN site TEXT")

    def count(self, channel: str, name: str, by: int = 1) -> None:
        """Add ``by`` to counter ``name`` of ``channel``."""
        with self._lock:
            self._bump(channel, name, by)

    def _bump(self, channel: str, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters(channel, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT(channel, name) DO UPDATE SET value = value + excluded.value",
            (channel, name, by),
        )

    def apply(
        self,
        key: str,
        channel: str,
        workflow: str | None,
        event_time: str | None,
        payload: str,
        *,
        site: str | None = None,
    ) -> bool:
        """Apply ``key`` once; return True when applied now, False for a duplicate."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO applied"
                    "(idempotency_key, channel, workflow, event_time, applied_at, payload, site) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, channel, workflow, event_time, time.time(), payload, site),
                )
                fresh = cur.rowcount == 1
                self._bump(channel, "received", 1)
                self._bump(channel, "applied" if fresh else "duplicates", 1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return fresh

    def apply_batch(
        self,
        events: Sequence[IncomingEvent],
        channel: str,
        workflow: str | None,
        *,
        site: str | None = None,
        fail: Callable[[], bool] = lambda: False,
    ) -> list[str]:
        """Apply a batch in one transaction; return each event's status, in order.

        ``applied`` or ``duplicate``; ``retry`` when ``fail()`` says so (an injected failure)
        or an earlier event of the same lane was not applied, so a lane is applied in order.
        """
        statuses: list[str] = []
        held: set[str] = set()
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for event in events:
                    if event.lane in held or fail():
                        held.add(event.lane)
                        statuses.append("retry")
                        continue
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO applied(idempotency_key, channel, workflow, "
                        "event_time, applied_at, payload, site) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            event.idempotency_key,
                            channel,
                            workflow,
                            event.event_time,
                            now,
                            event.payload,
                            site,
                        ),
                    )
                    statuses.append("applied" if cur.rowcount == 1 else "duplicate")
                self._bump(channel, "received", len(events))
                for name, status in (
                    ("applied", "applied"),
                    ("duplicates", "duplicate"),
                    ("failed_injected", "retry"),
                ):
                    if statuses.count(status):
                        self._bump(channel, name, statuses.count(status))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return statuses

    def stats(self) -> dict[str, Any]:
        """Return totals and per-channel counters."""
        with self._lock:
            rows = self._db.execute("SELECT channel, name, value FROM counters").fetchall()
        channels: dict[str, dict[str, int]] = {}
        for channel, name, value in rows:
            channels.setdefault(channel, dict.fromkeys(COUNTERS, 0))[name] = value
        totals = dict.fromkeys(COUNTERS, 0)
        for counts in channels.values():
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        return {**totals, "channels": channels}

    def applied(
        self, after: int = 0, limit: int = 1000, channel: str | None = None
    ) -> list[Applied]:
        """Return applied events with ``seq`` above ``after``, oldest first."""
        query = (
            "SELECT seq, idempotency_key, channel, workflow, event_time, applied_at, payload, site "
            "FROM applied WHERE seq > ?"
        )
        args: list[Any] = [after]
        if channel is not None:
            query += " AND channel = ?"
            args.append(channel)
        query += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [Applied(*row) for row in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
