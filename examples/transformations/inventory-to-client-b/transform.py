"""Stock movements for client B's warehouse system (transformation API v1)."""

from streamdr.artifacts.api import ChangeEvent, OutputEvent


def transform(event: ChangeEvent) -> list[OutputEvent]:
    """Return a stock-move event for each inserted move (moves are append-only)."""
    if event.operation != "insert" or event.after is None:
        return []
    move = event.after
    return [
        OutputEvent(
            payload={
                "type": "stock_move",
                "move_id": move["id"],
                "sku": move["sku"],
                "warehouse": move["warehouse"],
                "delta": move["delta"],
                "reason": move["reason"],
                "moved_at": move["moved_at"],
            },
            key=move["sku"],
        )
    ]
