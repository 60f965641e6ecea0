"""Pricing rules of the example transformation (imported relatively, as artifacts must)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def total_cents(row: Mapping[str, Any]) -> int:
    """Return quantity × unit price in cents."""
    return int(row.get("quantity", 0)) * int(row.get("unit_price_cents", 0))
