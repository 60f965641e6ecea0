"""Steady load into a source database; what the database acknowledged is the ground truth.

A :class:`Load` calls a write function at a steady pace from a thread. Each call commits one
transaction and returns what it committed; only acknowledged commits enter
:attr:`Load.committed`, so a write refused while the database is down (on purpose, in a drill)
is counted and never expected at the endpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import psycopg

T = TypeVar("T")
RETRY_PAUSE_S = 0.5  # after a refused write: the database is down, do not spin
MAX_ERRORS_KEPT = 20


class Load(Generic[T]):
    """Commits ``rate`` transactions per second through ``write`` until stopped."""

    def __init__(self, write: Callable[[], Iterable[T]], rate: float, name: str = "load") -> None:
        self.write, self.rate, self.name = write, rate, name
        self.committed: dict[T, float] = {}  # what was acknowledged -> when
        self.failures = 0
        self.errors: list[str] = []  # the first refusals, for a diagnosis
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Load[T]:
        """Start the writing thread; return self."""
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
        self._thread.start()
        return self

    def _run(self) -> None:
        interval, next_at = 1.0 / self.rate, time.monotonic()
        while not self._stop.is_set():
            try:
                done = self.write()
            except psycopg.Error as exc:
                # Not acknowledged: not part of the ground truth.
                self.failures += 1
                if len(self.errors) < MAX_ERRORS_KEPT:
                    self.errors.append(str(exc))
                self._stop.wait(RETRY_PAUSE_S)
            else:
                at = time.time()
                self.committed.update(dict.fromkeys(done, at))
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> dict[T, float]:
        """Stop writing; return what was committed -> commit time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return dict(self.committed)


class RowInserter:
    """Inserts one row a call, ``id = change_no``, numbered from ``first`` on one connection.

    A number whose insert failed is skipped, never reused: the next acknowledged row cannot
    be mistaken for a refused one.
    """

    def __init__(self, dsn: str, table: str, first: int = 1) -> None:
        self.dsn, self.table, self.next = dsn, table, first
        self._conn: psycopg.Connection[Any] | None = None

    def __call__(self) -> list[int]:
        """Insert the next row and return its change number; raises psycopg.Error if refused."""
        no, self.next = self.next, self.next + 1
        try:
            self._conn = self._conn or psycopg.connect(self.dsn, autocommit=True, connect_timeout=3)
            self._conn.execute(f"INSERT INTO {self.table} VALUES (%s, %s, 'x')", (no, no))
        except psycopg.Error:
            self._conn = None  # reconnect on the next call
            raise
        return [no]


def row_load(dsn: str, table: str, rate: float, first: int = 1) -> Load[int]:
    """Return a started load inserting ``rate`` rows/s into ``table``, numbered from ``first``."""
    return Load(RowInserter(dsn, table, first), rate, name="drill-load").start()
