"""Realistic retail changes: orders with lines, inventory moves and catalog price changes.

The generator is a pure planner (:func:`next_change`: given the state and a random source, what
happens next) plus a small database adapter, so PostgreSQL (psycopg) and the embedded SQLite
source run the same business logic. Each call commits one business transaction: a new order
with its lines and the stock they take, a status change, a restock, or a price change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from streamdr.clock import utcnow

CATEGORIES = ("grocery", "household", "apparel", "garden", "toys")
WAREHOUSES = ("north", "south", "east")
STATUSES = ("placed", "paid", "shipped", "delivered")
MIX = (("order", 0.45), ("status", 0.25), ("restock", 0.15), ("price", 0.15))

SCHEMA = {
    "catalog": "sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, "
    "price NUMERIC(12,2) NOT NULL, updated_at TEXT NOT NULL",
    "orders": "id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, status TEXT NOT NULL, "
    "total NUMERIC(12,2) NOT NULL, currency TEXT NOT NULL, created_at TEXT NOT NULL, "
    "updated_at TEXT NOT NULL",
    "order_lines": "order_id BIGINT NOT NULL, line_no INTEGER NOT NULL, sku TEXT NOT NULL, "
    "quantity INTEGER NOT NULL, unit_price NUMERIC(12,2) NOT NULL, "
    "PRIMARY KEY (order_id, line_no)",
    "inventory_moves": "id BIGINT PRIMARY KEY, sku TEXT NOT NULL, warehouse TEXT NOT NULL, "
    "delta INTEGER NOT NULL, reason TEXT NOT NULL, moved_at TEXT NOT NULL",
}
TABLES = tuple(SCHEMA)


@dataclass
class RetailState:
    """What the generator remembers: catalog prices, open orders, id counters."""

    prices: dict[str, Decimal] = field(default_factory=dict)
    open_orders: dict[int, str] = field(default_factory=dict)  # id -> status
    next_order: int = 1
    next_move: int = 1


@dataclass(frozen=True)
class Statement:
    """One SQL statement with named parameters (``:name``), dialect-neutral."""

    table: str
    verb: str  # insert | update
    values: dict[str, Any]
    where: dict[str, Any] = field(default_factory=dict)


def now_text() -> str:
    """Return the current UTC time as ISO 8601 text."""
    return utcnow().isoformat(timespec="milliseconds")


def seed_catalog(rng: random.Random, skus: int = 200) -> list[Statement]:
    """Return inserts for a catalog of ``skus`` products."""
    rows = []
    for n in range(1, skus + 1):
        price = Decimal(rng.randint(99, 9999)) / 100
        rows.append(
            Statement(
                "catalog",
                "insert",
                {
                    "sku": f"SKU-{n:05d}",
                    "name": f"Product {n}",
                    "category": CATEGORIES[n % 5],
                    "price": price,
                    "updated_at": now_text(),
                },
            )
        )
    return rows


def next_change(state: RetailState, rng: random.Random) -> tuple[str, list[Statement]]:
    """Return (kind, statements) of the next business transaction and update ``state``."""
    kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
    if kind == "status" and not state.open_orders:
        kind = "order"
    return kind, {"order": _order, "status": _status, "restock": _restock, "price": _price}[kind](
        state, rng
    )


def _order(state: RetailState, rng: random.Random) -> list[Statement]:
    oid, at = state.next_order, now_text()
    state.next_order += 1
    skus = rng.sample(sorted(state.prices), k=min(len(state.prices), rng.randint(1, 4)))
    lines, total = [], Decimal(0)
    for n, sku in enumerate(skus, start=1):
        qty, price = rng.randint(1, 5), state.prices[sku]
        total += qty * price
        lines.append(
            Statement(
                "order_lines",
                "insert",
                {"order_id": oid, "line_no": n, "sku": sku, "quantity": qty, "unit_price": price},
            )
        )
        lines.append(_move(state, sku, -qty, "sale", at))
    state.open_orders[oid] = "placed"
    order = Statement(
        "orders",
        "insert",
        {
            "id": oid,
            "customer_id": rng.randint(1, 5000),
            "status": "placed",
            "total": total,
            "currency": "EUR",
            "created_at": at,
            "updated_at": at,
        },
    )
    return [order, *lines]


def _status(state: RetailState, rng: random.Random) -> list[Statement]:
    oid = rng.choice(sorted(state.open_orders))
    status = STATUSES[STATUSES.index(state.open_orders[oid]) + 1]
    if status == STATUSES[-1]:
        del state.open_orders[oid]
    else:
        state.open_orders[oid] = status
    return [
        Statement("orders", "update", {"status": status, "updated_at": now_text()}, {"id": oid})
    ]


def _restock(state: RetailState, rng: random.Random) -> list[Statement]:
    sku = rng.choice(sorted(state.prices))
    return [_move(state, sku, rng.randint(10, 100), "restock", now_text())]


def _price(state: RetailState, rng: random.Random) -> list[Statement]:
    sku = rng.choice(sorted(state.prices))
    factor = Decimal(rng.randint(85, 115)) / 100
    price = max(Decimal("0.50"), (state.prices[sku] * factor).quantize(Decimal("0.01")))
    state.prices[sku] = price
    return [
        Statement("catalog", "update", {"price": price, "updated_at": now_text()}, {"sku": sku})
    ]


def _move(state: RetailState, sku: str, delta: int, reason: str, at: str) -> Statement:
    mid = state.next_move
    state.next_move += 1
    return Statement(
        "inventory_moves",
        "insert",
        {
            "id": mid,
            "sku": sku,
            "warehouse": WAREHOUSES[mid % 3],
            "delta": delta,
            "reason": reason,
            "moved_at": at,
        },
    )


def render(stmt: Statement, placeholder: str) -> tuple[str, list[Any]]:
    """Return (sql, params) of ``stmt`` with ``placeholder`` (``%s`` or ``?``)."""
    if stmt.verb == "insert":
        cols = list(stmt.values)
        sql = (
            f"INSERT INTO {stmt.table} ({', '.join(cols)}) "
            f"VALUES ({', '.join(placeholder for _ in cols)})"
        )
        return sql, [_param(v) for v in stmt.values.values()]
    sets = ", ".join(f"{c} = {placeholder}" for c in stmt.values)
    where = " AND ".join(f"{c} = {placeholder}" for c in stmt.where)
    params = [_param(v) for v in [*stmt.values.values(), *stmt.where.values()]]
    return f"UPDATE {stmt.table} SET {sets} WHERE {where}", params


def _param(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
