"""Kafka records as Parquet: the column schema, buffering, encoding, decoding and digests.

Columns: topic, partition, offset, timestamp (ms, UTC), timestamp_type (librdkafka's
0 = not available, 1 = CreateTime, 2 = LogAppendTime), key and value (binary, null kept:
a null value is a tombstone) and headers (list of key/value structs, order and duplicates
kept; null when the record has none). Files are zstd-compressed.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

HEADER_TYPE = pa.list_(
    pa.struct([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.binary())])
)
SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("timestamp_type", pa.int8(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("headers", HEADER_TYPE),
    ],
    metadata={"streamdr.format": "kafka-records", "streamdr.format_version": "1"},
)
ROW_GROUP_ROWS = 64 * 1024
COMPRESSION = "zstd"

Header = tuple[str, bytes | None]


@dataclass
class ColumnBuffer:
    """Records of one partition in column lists, appended in offset order."""

    topic: str
    partition: int
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    ts_types: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    headers: list[list[Header] | None] = field(default_factory=list)
    nbytes: int = 0

    def __len__(self) -> int:
        return len(self.offsets)

    def to_table(self) -> pa.Table:
        """Return the buffered records as an Arrow table with :data:`SCHEMA`."""
        n = len(self.offsets)
        arrays = [
            pa.repeat(pa.scalar(self.topic, pa.string()), n),
            pa.repeat(pa.scalar(self.partition, pa.int32()), n),
            pa.array(self.offsets, pa.int64()),
            pa.array(self.timestamps, pa.timestamp("ms", tz="UTC")),
            pa.array(self.ts_types, pa.int8()),
            pa.array(self.keys, pa.binary()),
            pa.array(self.values, pa.binary()),
            pa.array(self.headers, HEADER_TYPE),
        ]
        return pa.Table.from_arrays(arrays, schema=SCHEMA)


def encode_parquet(table: pa.Table) -> pa.Buffer:
    """Return ``table`` as the bytes of one zstd Parquet file."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_ROWS,
        use_dictionary=["topic"],
        write_statistics=["partition", "offset", "timestamp"],
    )
    return sink.getvalue()


def sha256_hex(data: Any) -> str:
    """Return the hex sha256 of a bytes-like object (bytes or pyarrow Buffer)."""
    return hashlib.sha256(memoryview(data)).hexdigest()


def parquet_file(data: Any) -> pq.ParquetFile:
    """Return a ParquetFile over in-memory ``data``; raises pyarrow errors when malformed."""
    return pq.ParquetFile(pa.BufferReader(data))


def iter_batches(
    data: Any, columns: list[str] | None = None, batch_rows: int = ROW_GROUP_ROWS
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of a Parquet file held in memory (bounded by ``batch_rows``)."""
    yield from parquet_file(data).iter_batches(batch_size=batch_rows, columns=columns)


def headers_of(batch: pa.RecordBatch) -> list[list[Header] | None]:
    """Return the headers column as Python lists of (key, value) tuples (None when absent)."""
    col = batch.column("headers")
    if col.null_count == len(col):
        return [None] * len(col)
    return [None if h is None else [(e["key"], e["value"]) for e in h] for h in col.to_pylist()]


def timestamps_ms(batch: pa.RecordBatch) -> list[int]:
    """Return the timestamp column as integer milliseconds."""
    return batch.column("timestamp").cast(pa.int64()).to_pylist()


_NUMBERS = struct.Struct(">qiii")
_HEADER = struct.Struct(">ii")


class RecordDigest:
    """An order-sensitive sha256 over records' timestamp, key, value and headers.

    The same digest is computed from the backup (while restoring) and from the records read
    back from the target topic, so equal digests mean byte-identical records in the same order.
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.count = 0

    def add(
        self,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[Header] | None,
    ) -> None:
        """Fold one record into the digest."""
        hs = list(headers or ())
        klen = -1 if key is None else len(key)
        vlen = -1 if value is None else len(value)
        self._h.update(_NUMBERS.pack(timestamp, klen, vlen, len(hs)))
        if key:
            self._h.update(key)
        if value:
            self._h.update(value)
        for hk, hv in hs:
            kb = hk.encode() if isinstance(hk, str) else hk
            self._h.update(_HEADER.pack(len(kb), -1 if hv is None else len(hv)))
            self._h.update(kb)
            if hv:
                self._h.update(hv)
        self.count += 1

    def hexdigest(self) -> str:
        """Return the digest so far."""
        return self._h.hexdigest()
