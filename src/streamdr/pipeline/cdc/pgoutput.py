"""A decoder of PostgreSQL's built-in ``pgoutput`` logical decoding messages (protocol 1).

Pure: it turns the ``data`` bytes that ``pg_logical_slot_peek_binary_changes`` returns, one
message per row, into :class:`~streamdr.pipeline.events.SourceTransaction` objects. Format:
PostgreSQL docs, "Logical Replication Message Formats" (big-endian integers, NUL-terminated
strings, timestamps in microseconds since 2000-01-01 UTC).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streamdr.pipeline.cdc.values import convert
from streamdr.pipeline.events import SourceChange, SourceTransaction

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class DecodeError(ValueError):
    """Bytes that are not a pgoutput message this decoder understands."""


def format_lsn(lsn: int) -> str:
    """Return ``lsn`` in PostgreSQL's ``X/X`` notation."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """Return the integer of an ``X/X`` LSN; raises ValueError when malformed."""
    high, _, low = text.partition("/")
    if not low:
        raise ValueError(f"{text!r} is not an LSN like 0/16B3748")
    return (int(high, 16) << 32) | int(low, 16)


def pg_time(micros: int) -> datetime:
    """Return a PostgreSQL timestamp (microseconds since 2000-01-01 UTC) as a datetime."""
    return PG_EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Column:
    """One column of a relation."""

    name: str
    type_oid: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    """A table as pgoutput describes it before its first change in a session."""

    oid: int
    schema: str
    name: str
    columns: tuple[Column, ...]

    @property
    def table(self) -> str:
        """Return ``schema.table``."""
        return f"{self.schema or 'pg_catalog'}.{self.name}"


class Reader:
    """A cursor over one message's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> Any:
        """Return the next struct value(s) of ``fmt`` (big-endian)."""
        size = struct.calcsize("!" + fmt)
        if self.pos + size > len(self.data):
            raise DecodeError("message ends early")
        values = struct.unpack_from("!" + fmt, self.data, self.pos)
        self.pos += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        """Return the next NUL-terminated string."""
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise DecodeError("unterminated string")
        text = self.data[self.pos : end].decode()
        self.pos = end + 1
        return text

    def raw(self, n: int) -> bytes:
        """Return the next ``n`` bytes."""
        if self.pos + n > len(self.data):
            raise DecodeError("message ends early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


UNCHANGED = object()  # an unchanged TOASTed value: pgoutput does not resend it


def read_tuple(r: Reader, relation: Relation) -> dict[str, Any]:
    """Return one TupleData as {column: value}; unchanged TOAST values are left out."""
    ncols = r.take("h")
    if ncols != len(relation.columns):
        raise DecodeError(
            f"{relation.table}: tuple has {ncols} columns, relation has {len(relation.columns)}"
        )
    row: dict[str, Any] = {}
    for col in relation.columns:
        kind = r.raw(1)
        if kind == b"n":
            row[col.name] = None
        elif kind == b"u":
            continue
        elif kind == b"t":
            row[col.name] = convert(col.type_oid, r.raw(r.take("i")).decode())
        else:
            raise DecodeError(f"unknown tuple value kind {kind!r}")
    return row


@dataclass
class _Open:
    final_lsn: int
    commit_time: datetime
    changes: list[SourceChange] = field(default_factory=list)


class PgoutputDecoder:
    """Feeds messages in order and returns each transaction at its Commit message.

    ``primary_keys`` (``schema.table`` -> key columns) decides which columns key a change.
    pgoutput flags the *replica identity* columns, which under ``REPLICA IDENTITY FULL`` are
    all of them: keyed by those, every update of a row would get a new record key, so a row's
    changes would spread over partitions and ordering lanes. The flags are used only for a
    table missing from ``primary_keys``.
    """

    def __init__(self, primary_keys: Mapping[str, Sequence[str]] | None = None) -> None:
        self.relations: dict[int, Relation] = {}
        self.primary_keys = dict(primary_keys or {})
        self._open: _Open | None = None

    def feed(self, data: bytes) -> SourceTransaction | None:
        """Consume one message; return the finished transaction at a Commit, else None.

        Raises DecodeError on malformed bytes or a change outside a transaction.
        """
        r = Reader(data)
        kind = r.raw(1)
        if kind == b"B":
            final_lsn, ts, _xid = r.take("qqi")
            self._open = _Open(final_lsn, pg_time(ts))
        elif kind == b"C":
            return self._commit(r)
        elif kind == b"R":
            self._relation(r)
        elif kind in (b"I", b"U", b"D", b"T"):
            self._change(kind, r)
        elif kind not in (b"Y", b"O", b"M"):  # types, origins, messages carry no row change
            raise DecodeError(f"unknown pgoutput message {kind!r}")
        return None

    def _commit(self, r: Reader) -> SourceTransaction:
        _flags, commit_lsn, end_lsn, ts = r.take("bqqq")
        txn = self._open
        if txn is None:
            raise DecodeError("Commit without Begin")
        self._open = None
        return SourceTransaction(format_lsn(commit_lsn), end_lsn, pg_time(ts), tuple(txn.changes))

    def _relation(self, r: Reader) -> None:
        oid = r.take("I")
        schema, name = r.string(), r.string()
        _identity, ncols = r.take("bh")
        primary = self.primary_keys.get(f"{schema or 'pg_catalog'}.{name}")
        cols = []
        for _ in range(ncols):
            flags = r.take("b")
            col_name = r.string()
            type_oid, _typmod = r.take("Ii")
            is_key = col_name in primary if primary else bool(flags & 1)
            cols.append(Column(col_name, type_oid, is_key))
        self.relations[oid] = Relation(oid, schema, name, tuple(cols))

    def _change(self, kind: bytes, r: Reader) -> None:
        txn = self._open
        if txn is None:
            raise DecodeError("row change outside a transaction")
        ordinal = len(txn.changes)
        if kind == b"T":
            txn.changes.append(_truncate(r, self.relations, ordinal))
            return
        relation = self.relations.get(r.take("I"))
        if relation is None:
            raise DecodeError("row change for a relation never described")
        txn.changes.append(_row_change(kind, r, relation, ordinal))


def _row_change(kind: bytes, r: Reader, rel: Relation, ordinal: int) -> SourceChange:
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    if kind == b"I":
        _expect(r, b"N")
        after = read_tuple(r, rel)
    elif kind == b"U":
        marker = r.raw(1)
        if marker in (b"K", b"O"):
            before = read_tuple(r, rel)
            marker = r.raw(1)
        if marker != b"N":
            raise DecodeError(f"update without new tuple (got {marker!r})")
        after = read_tuple(r, rel)
    else:
        marker = r.raw(1)
        if marker not in (b"K", b"O"):
            raise DecodeError(f"delete without old tuple (got {marker!r})")
        before = read_tuple(r, rel)
    operation = {b"I": "insert", b"U": "update", b"D": "delete"}[kind]
    keys = [c.name for c in rel.columns if c.is_key]
    row = after if after is not None else before or {}
    if not keys:
        return SourceChange(
            rel.table,
            operation,
            {},
            before,
            after,
            ordinal,
            problem="table has no primary key (replica identity), so its changes cannot be keyed",
        )
    return SourceChange(rel.table, operation, {k: row.get(k) for k in keys}, before, after, ordinal)


def _truncate(r: Reader, relations: dict[int, Relation], ordinal: int) -> SourceChange:
    count, _options = r.take("ib")
    names = [
        relations[o].table if o in relations else f"oid:{o}"
        for o in (r.take("I") for _ in range(count))
    ]
    return SourceChange(
        names[0] if names else "?",
        "truncate",
        {},
        None,
        None,
        ordinal,
        problem=f"TRUNCATE of {', '.join(names)} is not streamed as row changes",
    )


def _expect(r: Reader, marker: bytes) -> None:
    got = r.raw(1)
    if got != marker:
        raise DecodeError(f"expected {marker!r}, got {got!r}")
