"""Time helpers every layer shares: aware UTC now, ISO 8601 text, Kafka millisecond timestamps.

Times are always timezone-aware UTC inside streamdr; a naive time read back from a store (SQLite
drops the zone) is taken as UTC, because streamdr only ever stores UTC.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from streamdr.errors import InputError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(ts: datetime) -> datetime:
    """Return ``ts`` as aware UTC; a naive time is taken as UTC (stores drop the zone)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def iso(ts: datetime | None) -> str | None:
    """Return ``ts`` as ISO 8601 with milliseconds (naive taken as UTC), or None."""
    return as_utc(ts).isoformat(timespec="milliseconds") if ts else None


def now_ms() -> int:
    """Return the current wall-clock time as a Kafka millisecond timestamp."""
    return int(time.time() * 1000)


def ms_to_datetime(ms: int) -> datetime:
    """Return a Kafka millisecond timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def datetime_to_ms(ts: datetime) -> int:
    """Return an aware datetime as a Kafka millisecond timestamp (exact, no float rounding)."""
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def iso_ms(ms: int | None) -> str | None:
    """Return a Kafka millisecond timestamp as ISO 8601 with milliseconds, or None."""
    return iso(ms_to_datetime(ms)) if ms is not None else None


def parse_time(text: str, option: str) -> datetime:
    """Return an ISO 8601 time as aware UTC (a time without zone is taken as UTC).

    Raises InputError naming ``option`` when ``text`` is not ISO 8601.
    """
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(
            f"{option} {text!r} is not an ISO 8601 time",
            hint="Use e.g. 2025-11-15T08:00:00Z (a time without zone is UTC).",
        ) from exc
    return as_utc(ts)
