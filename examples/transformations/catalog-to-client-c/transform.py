"""Catalog price changes for client C's price-comparison feed (transformation API v1)."""

from streamdr.artifacts.api import ChangeEvent, OutputEvent


def transform(event: ChangeEvent) -> list[OutputEvent]:
    """Return a price event when a product is added or its price changed; skip other edits."""
    after = event.after
    if after is None:
        return []
    before = event.before or {}
    if event.operation == "update" and before.get("price") == after.get("price"):
        return []
    return [
        OutputEvent(
            payload={
                "type": "price",
                "sku": after["sku"],
                "name": after.get("name"),
                "price": after["price"],
                "previous_price": before.get("price"),
            },
            key=after["sku"],
        )
    ]
