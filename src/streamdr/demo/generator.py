"""Running the retail generator against PostgreSQL or the SQLite demo source at a chosen rate."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from streamdr.demo.retail import (
    SCHEMA,
    RetailState,
    Statement,
    next_change,
    render,
    seed_catalog,
)
from streamdr.errors import UnreachableError


class RetailDb:
    """The retail schema in one database; ``execute`` runs statements in one transaction."""

    def __init__(self, connect: Callable[[], Any], placeholder: str, schema: str) -> None:
        self.connect = connect
        self.placeholder = placeholder
        self.schema = schema
        self._conn: Any = None

    @classmethod
    def postgres(cls, conninfo: str) -> RetailDb:
        """Return the adapter for a PostgreSQL database."""
        import psycopg

        return cls(lambda: psycopg.connect(conninfo, connect_timeout=5), "%s", "public")

    @classmethod
    def sqlite(cls, path: Path) -> RetailDb:
        """Return the adapter for a SQLite file."""
        return cls(lambda: sqlite3.connect(str(path), timeout=10), "?", "main")

    def _db(self) -> Any:
        if self._conn is None:
            try:
                self._conn = self.connect()
            except Exception as exc:  # psycopg or sqlite3: either way the database is not there
                raise UnreachableError(f"retail database unreachable: {exc}") from exc
        return self._conn

    def create_schema(self) -> None:
        """Create the retail tables if missing."""
        conn = self._db()
        for table, cols in SCHEMA.items():
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
        if self.placeholder == "%s":
            # Old row images let catalog-to-client-c tell a price change from other edits.
            conn.execute("ALTER TABLE catalog REPLICA IDENTITY FULL")
        conn.commit()

    def load_state(self, rng: random.Random) -> RetailState:
        """Return the generator state from the database, seeding the catalog when empty."""
        conn = self._db()
        state = RetailState()
        rows = conn.execute("SELECT sku, price FROM catalog").fetchall()
        if not rows:
            self.execute(seed_catalog(rng))
            rows = conn.execute("SELECT sku, price FROM catalog").fetchall()
        state.prices = {sku: Decimal(str(price)) for sku, price in rows}
        state.next_order = conn.execute("SELECT COALESCE(MAX(id), 0) FROM orders").fetchone()[0] + 1
        state.next_move = (
            conn.execute("SELECT COALESCE(MAX(id), 0) FROM inventory_moves").fetchone()[0] + 1
        )
        state.open_orders = dict(
            conn.execute("SELECT id, status FROM orders WHERE status <> 'delivered'").fetchall()
        )
        conn.commit()
        return state

    def execute(self, statements: list[Statement]) -> None:
        """Run ``statements`` in one transaction; raises UnreachableError if the DB is gone."""
        conn = self._db()
        try:
            for stmt in statements:
                sql, params = render(stmt, self.placeholder)
                conn.execute(sql, params)
            conn.commit()
        except Exception as exc:
            self.close()
            raise UnreachableError(f"retail write failed: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class Generator:
    """Commits retail transactions at ``rate`` per second until stopped or ``limit`` reached."""

    def __init__(self, db: RetailDb, rate: float, *, seed: int | None = None) -> None:
        self.db = db
        self.rate = rate
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.failures = 0

    def run(
        self, stop: threading.Event, *, seconds: float | None = None, limit: int | None = None
    ) -> Counter[str]:
        """Generate until ``stop``, ``seconds`` elapsed or ``limit`` transactions; return counts."""
        state = self.db.load_state(self.rng)
        start = time.monotonic()
        interval = 1.0 / self.rate
        next_at = start
        while not stop.is_set():
            if seconds is not None and time.monotonic() - start >= seconds:
                break
            if limit is not None and sum(self.counts.values()) >= limit:
                break
            kind, stmts = next_change(state, self.rng)
            try:
                self.db.execute(stmts)
                self.counts[kind] += 1
            except UnreachableError:
                self.failures += 1
                stop.wait(1.0)  # the database is down (a drill?); keep trying gently
                state = self._reload(state)
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))
        return self.counts

    def _reload(self, state: RetailState) -> RetailState:
        try:
            return self.db.load_state(self.rng)
        except Exception:  # still down: continue with what we had
            return state
