"""Example transformation (API v1): turn an order row change into one client event."""

from __future__ import annotations

from streamdr.artifacts.api import ChangeEvent, OutputEvent

from .rules import total_cents


def transform(event: ChangeEvent) -> list[OutputEvent]:
    """Return one event per inserted or updated order; deletes are passed on as tombstones."""
    row = event.after or event.before or {}
    payload = {
        "type": f"order.{event.operation}",
        "order_id": row.get("id"),
        "total_cents": total_cents(row) if event.after else None,
        "committed_at": event.commit_time.isoformat(),
    }
    return [OutputEvent(payload=payload, key=str(row.get("id")))]
