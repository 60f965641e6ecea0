"""A drill's clean-up on a configured PostgreSQL: slots first, and nothing fails silently."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from streamdr.drills import drill_database
from streamdr.drills.drill_database import SLOTS_OF, drop_databases


class _Result:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class FakeServer:
    """Records statements; slots per database; statements containing a key in ``fail`` raise."""

    def __init__(self, slots: dict[str, list[tuple[str, int | None]]], fail: dict[str, int]):
        self.slots = slots
        self.fail = fail  # statement fragment -> how many times it fails
        self.executed: list[str] = []

    def execute(self, query: Any, params: Any = None) -> _Result:
        text = f"{query} {params or ''}"
        for fragment, times in self.fail.items():
            if fragment in text and times:
                self.fail[fragment] = times - 1
                error = psycopg.errors.ObjectInUse if "drop_replication" in query else psycopg.Error
                raise error(f"{fragment} refused\nDETAIL: more")
        self.executed.append(text)
        if query == SLOTS_OF:
            return _Result(self.slots.get(params[0], []))
        return _Result([])


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(drill_database.time, "sleep", lambda _s: None)


def test_slots_are_dropped_before_their_database():
    server = FakeServer({"drill_a": [("streamdr_drill_a", None)]}, {})
    assert drop_databases(server, ["drill_a"]) == []
    drop_slot = next(i for i, s in enumerate(server.executed) if "pg_drop_replication_slot" in s)
    drop_db = next(i for i, s in enumerate(server.executed) if "DROP DATABASE" in s)
    assert drop_slot < drop_db


def test_an_active_slot_has_its_reader_terminated_and_is_dropped_once_released():
    server = FakeServer(
        {"drill_a": [("slot_a", 4242)]}, {"pg_drop_replication_slot": 2}
    )  # the walsender lets go of the slot only on the third try
    assert drop_databases(server, ["drill_a"]) == []
    assert any("pg_terminate_backend" in s and "4242" in s for s in server.executed)
    assert any("pg_drop_replication_slot" in s for s in server.executed)


def test_every_failure_is_returned_and_later_databases_are_still_tried():
    server = FakeServer(
        {"drill_a": [("slot_a", None)]},
        {"pg_drop_replication_slot": 1, 'DROP DATABASE IF EXISTS "drill_a"': 1},
    )
    problems = drop_databases(server, ["drill_a", "drill_b"])
    assert problems == [
        "slot slot_a on drill_a: pg_drop_replication_slot refused",
        'database drill_a: DROP DATABASE IF EXISTS "drill_a" refused',
    ]
    assert any('DROP DATABASE IF EXISTS "drill_b"' in s for s in server.executed)


def test_a_slot_that_never_lets_go_is_reported_not_hidden():
    server = FakeServer({"drill_a": [("slot_a", 7)]}, {"pg_drop_replication_slot": 1000})
    assert drop_databases(server, ["drill_a"])[0].startswith("slot slot_a on drill_a:")
