"""The ledger of a harness pipeline: committed at the source against applied at the endpoint.

Pure functions over the reference endpoint's ``/applied`` items (read through
``EndpointClient.applied``). Those items are data from a process under test: an item without
the expected shape is left out, so it can only make a change count as lost, never hide one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)
Application = tuple[int, str | None, float]  # change number, delivering site, applied at
Identity = tuple[str, int, int]  # operation, row id, change number
LOST_SAMPLE = 20


def _row(item: Mapping[str, Any]) -> dict[str, Any] | None:
    payload = item.get("payload")
    row = payload.get("row") if isinstance(payload, dict) else None
    return row if isinstance(row, dict) else None


def applications(items: Iterable[Mapping[str, Any]]) -> list[Application]:
    """Return (change number, delivering site, applied at) of every applied item, in order."""
    out = []
    for item in items:
        row = _row(item)
        no, at = (row or {}).get("change_no"), item.get("applied_at")
        if isinstance(no, int) and isinstance(at, int | float):
            site = item.get("site")
            out.append((no, site if isinstance(site, str) else None, float(at)))
    return out


def identities(items: Iterable[Mapping[str, Any]]) -> list[Identity]:
    """Return (operation, row id, change number) of every applied item, repeats included."""
    out = []
    for item in items:
        payload, row = item.get("payload"), _row(item)
        key = payload.get("key") if isinstance(payload, dict) else None
        op = payload.get("op") if isinstance(payload, dict) else None
        rid = key.get("id") if isinstance(key, dict) else None
        no = row.get("change_no") if row else None
        if isinstance(op, str) and isinstance(rid, int) and isinstance(no, int):
            out.append((op, rid, no))
    return out


def first_applied(apps: Iterable[Application]) -> dict[int, float]:
    """Return change number -> time it was first applied."""
    out: dict[int, float] = {}
    for no, _site, at in apps:
        out.setdefault(no, at)
    return out


def duplicates_applied(applied: list[K]) -> int:
    """Return how many applications repeat a change already applied (must be 0)."""
    return len(applied) - len(set(applied))


def verdict(committed: set[K], applied: list[K], redeliveries_ignored: int) -> dict[str, Any]:
    """Return events_lost, duplicates_applied and the counts behind them.

    ``committed`` is what the source acknowledged, ``applied`` every application at the
    endpoint (repeats included), ``redeliveries_ignored`` what the endpoint's idempotency check
    turned away (sent again, not applied: harmless, but worth reporting).
    """
    lost = sorted(committed - set(applied))
    return {
        "events_committed": len(committed),
        "events_applied": len(set(applied)),
        "events_lost": len(lost),
        "duplicates_applied": duplicates_applied(applied),
        "redeliveries_ignored": redeliveries_ignored,
        "lost_sample": lost[:LOST_SAMPLE],
    }
