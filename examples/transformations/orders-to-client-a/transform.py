"""Orders and their lines, shaped for client A's order-management API (transformation API v1)."""

from streamdr.artifacts.api import ChangeEvent, OutputEvent


def transform(event: ChangeEvent) -> list[OutputEvent]:
    """Return one order or order-line event per change."""
    row = dict(event.after or event.before or {})
    if event.table.endswith(".orders"):
        payload = {
            "type": "order",
            "op": event.operation,
            "order_id": row.get("id"),
            "customer_id": row.get("customer_id"),
            "status": row.get("status"),
            "total": row.get("total"),
            "currency": row.get("currency"),
        }
        key = f"order-{row.get('id')}"
    else:
        payload = {
            "type": "order_line",
            "op": event.operation,
            "order_id": row.get("order_id"),
            "line_no": row.get("line_no"),
            "sku": row.get("sku"),
            "quantity": row.get("quantity"),
            "unit_price": row.get("unit_price"),
        }
        key = f"order-{row.get('order_id')}"
    payload["source_commit_time"] = event.commit_time.isoformat()
    return [OutputEvent(payload=payload, key=key)]
