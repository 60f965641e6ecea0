"""The embedded demo source: SQLite triggers fill an append-only change table.

Each captured table gets AFTER INSERT/UPDATE/DELETE triggers writing one row per change to
``_streamdr_changes`` inside the writer's own transaction, so a change is in the table exactly
when it is committed. Positions are the change rows' ``seq``; ``acknowledge`` deletes rows the
checkpoint covers. SQLite has one writer at a time, so ``seq`` order is commit order.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from streamdr.errors import StateError
from streamdr.pipeline.cdc.source import SourceUnavailable
from streamdr.pipeline.events import OPERATIONS, SourceChange, SourceTransaction

CHANGE_TABLE = "_streamdr_changes"
SCHEMA = "main"


def _q(name: str) -> str:
    """Return ``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    """Return ``text`` as a quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def trigger_sql(table: str, columns: list[str], keys: list[str]) -> list[str]:
    """Return the CREATE TRIGGER statements that capture ``table``'s changes.

    ``columns`` and ``keys`` must be the table's real columns (see :func:`table_columns`); every
    name is quoted as an identifier or a string literal, never pasted in as is.
    Raises ValueError when a key is not one of the columns.
    """
    unknown = [k for k in keys if k not in columns]
    if unknown:
        raise ValueError(f"key columns {unknown} are not columns of {table!r}")

    def obj(ref: str, cols: list[str]) -> str:
        return "json_object(" + ", ".join(f"{_lit(c)}, {ref}.{_q(c)}" for c in cols) + ")"

    stmts = []
    for op, when, ref_key, before, after in (
        ("insert", "INSERT", "NEW", "NULL", obj("NEW", columns)),
        ("update", "UPDATE", "NEW", obj("OLD", columns), obj("NEW", columns)),
        ("delete", "DELETE", "OLD", obj("OLD", columns), "NULL"),
    ):
        stmts.append(
            f"CREATE TRIGGER IF NOT EXISTS {_q(f'_streamdr_{table}_{op}')} AFTER {when} ON "
            f"{_q(table)} BEGIN INSERT INTO {CHANGE_TABLE}(tbl, op, pk, before, after, changed_at)"
            f" VALUES ({_lit(table)}, '{op}', {obj(ref_key, keys)}, {before}, {after}, "
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')); END"
        )
    return stmts


def change_from_row(
    seq: int, tbl: str, op: str, pk: str, before: str | None, after: str | None, at: str
) -> SourceTransaction:
    """Return the one-change transaction of a change-table row; malformed rows carry a problem."""
    table = f"{SCHEMA}.{tbl}"
    try:
        commit_time = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        commit_time = datetime.now(UTC)
    problem = None
    key: dict[str, object] = {}
    rows: list[dict[str, object] | None] = [None, None]
    try:
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}")
        key = json.loads(pk)
        rows = [json.loads(v) if v is not None else None for v in (before, after)]
        if not isinstance(key, dict) or not key:
            raise ValueError("primary key is not a non-empty JSON object")
    except (ValueError, TypeError) as exc:
        problem = f"malformed change row {seq}: {exc}"
        key = {}
    change = SourceChange(table, op, key, rows[0], rows[1], 0, problem=problem)
    return SourceTransaction(str(seq), seq, commit_time, (change,))


def table_columns(db: sqlite3.Connection, table: str) -> tuple[list[str], list[str]]:
    """Return ``(columns, primary-key columns)`` of ``table``; both empty if it is no table.

    The name is looked up in ``sqlite_master`` with a bound parameter first, so a configured
    name that is not a real table never reaches a PRAGMA or a trigger.
    """
    found = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    if found is None:
        return [], []
    cols = db.execute(f"PRAGMA table_info({_q(found[0])})").fetchall()
    keys = [c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5] > 0]
    return [c[1] for c in cols], keys


class SqliteSource:
    """A SQLite database file with capture triggers."""

    kind = "sqlite"
    waits_for_changes = False  # ``pending`` returns at once: the reader sleeps when idle

    def __init__(self, name: str, path: Path, tables: list[str]) -> None:
        self.name = name
        self.path = path
        self.tables = tables
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            if not self.path.exists():
                raise SourceUnavailable(f"source database {self.path} does not exist")
            self._db = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
        return self._db

    def open(self) -> list[str]:
        """Create the change table and triggers; return the captured tables."""
        db = self._conn()
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {CHANGE_TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "tbl TEXT NOT NULL, op TEXT NOT NULL, pk TEXT NOT NULL, before TEXT, after TEXT, "
            "changed_at TEXT NOT NULL)"
        )
        names = [t.split(".", 1)[1] for t in self.tables] or [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '\\_%' "
                "ESCAPE '\\' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        for table in names:
            columns, keys = table_columns(db, table)
            if not columns or not keys:
                raise StateError(
                    f"table {table!r} of source {self.name!r} is missing or has no primary key",
                    hint="Only tables with a primary key can be captured (events are keyed by it).",
                )
            for stmt in trigger_sql(table, columns, keys):
                db.execute(stmt)
        return [f"{SCHEMA}.{t}" for t in names]

    def resume_from(self, checkpoint: int | None) -> str | None:
        """Forget rows the checkpoint already covers; return a warning if rows were pruned
        past it (the checkpoint came from a Kafka site that lagged)."""
        if checkpoint is None:
            return None
        self.acknowledge(checkpoint)
        row = self._conn().execute(f"SELECT MIN(seq) FROM {CHANGE_TABLE}").fetchone()
        gap = row is not None and row[0] is not None and row[0] > checkpoint + 1
        last = (
            self._conn()
            .execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (CHANGE_TABLE,))
            .fetchone()
        )
        if gap or (row is not None and row[0] is None and last and last[0] > checkpoint):
            return (
                f"change rows after the checkpoint {checkpoint} were already pruned: they were "
                "acknowledged by another Kafka site and are only there"
            )
        return None

    def pending(self, after: int, limit: int) -> list[SourceTransaction]:
        """Return change rows with ``seq`` above ``after``, oldest first."""
        try:
            rows = (
                self._conn()
                .execute(
                    f"SELECT seq, tbl, op, pk, before, after, changed_at FROM {CHANGE_TABLE} "
                    "WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after, limit),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            self.close()
            raise SourceUnavailable(f"reading {self.path}: {exc}") from exc
        return [change_from_row(*row) for row in rows]

    def peek(self, after: int, limit: int) -> list[SourceTransaction]:
        """Return what ``pending`` returns: reading the change table never consumes it."""
        return self.pending(after, limit)

    def acknowledge(self, upto: int) -> None:
        """Delete change rows up to ``upto`` (they are in Kafka)."""
        try:
            self._conn().execute(f"DELETE FROM {CHANGE_TABLE} WHERE seq <= ?", (upto,))
        except sqlite3.Error as exc:
            self.close()
            raise SourceUnavailable(f"pruning {self.path}: {exc}") from exc

    def format_position(self, position: int) -> str:
        """Return the change number as text."""
        return str(position)

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()
            self._db = None
