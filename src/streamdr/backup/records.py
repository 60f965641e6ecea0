"""Kafka records as Parquet: the column schema, buffering, encoding, decoding and digests.

Columns: topic, partition, offset, timestamp (ms, UTC), timestamp_type (librdkafka's
0 = not available, 1 = CreateTime, 2 = LogAppendTime), key and value (binary, null kept:
a null value is a tombstone) and headers (list of key/value structs, order and duplicates
kept; an empty list when the record has none: Kafka does not tell "no headers" from "zero
headers"). Files are zstd-compressed.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate, chain
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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
READ_BATCH_ROWS = 16 * 1024  # bounds the Python objects a restore holds per batch
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

    def append(
        self,
        offset: int,
        timestamp: int | None,
        ts_type: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[Header] | None,
    ) -> int:
        """Append one record and return how many are buffered."""
        self.offsets.append(offset)
        self.timestamps.append(timestamp)
        self.ts_types.append(ts_type)
        self.keys.append(key)
        self.values.append(value)
        self.headers.append(headers)
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
            headers_array(self.headers),
        ]
        return pa.Table.from_arrays(arrays, schema=SCHEMA)


def headers_array(headers: list[list[Header] | None]) -> pa.ListArray:
    """Return Kafka headers as a list<struct<key, value>> array (no headers → empty list).

    Built from flat key and value lists, which is several times faster than letting pyarrow
    convert nested Python lists of tuples.
    """
    offsets = pa.array([0, *accumulate(len(h) if h else 0 for h in headers)], pa.int32())
    flat = list(chain.from_iterable(h for h in headers if h))
    keys = pa.array([k for k, _ in flat], pa.string())
    values = pa.array([v for _, v in flat], pa.binary())
    pairs = pa.StructArray.from_arrays([keys, values], fields=list(HEADER_TYPE.value_type))
    return pa.ListArray.from_arrays(offsets, pairs, type=HEADER_TYPE)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around a hot loop.

    Buffering records allocates millions of small lists and tuples, and each collection walks
    every live one; the records form no reference cycles, so nothing is lost by pausing it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    data: Any, columns: list[str] | None = None, batch_rows: int = READ_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of a Parquet file held in memory (bounded by ``batch_rows``)."""
    yield from parquet_file(data).iter_batches(batch_size=batch_rows, columns=columns)


def headers_of(batch: pa.RecordBatch) -> list[list[Header] | None]:
    """Return the headers column as Python lists of (key, value) tuples (None when absent)."""
    col = batch.column("headers")
    if col.null_count == len(col):
        return [None] * len(col)
    counts = pc.fill_null(pc.list_value_length(col), 0).to_pylist()
    flat = col.flatten()
    pairs = list(zip(flat.field("key").to_pylist(), flat.field("value").to_pylist(), strict=True))
    out: list[list[Header] | None] = []
    at = 0
    for n in counts:
        out.append(pairs[at : at + n] if n else None)
        at += n
    return out


def timestamps_ms(batch: pa.RecordBatch) -> list[int]:
    """Return the timestamp column as integer milliseconds."""
    return batch.column("timestamp").cast(pa.int64()).to_pylist()


def _lengths(arr: pa.Array) -> pa.Array:
    """Return the byte lengths of a binary/string array as int64, -1 for null."""
    return pc.fill_null(pc.binary_length(arr).cast(pa.int64()), -1)


def _concat(arr: pa.Array) -> memoryview:
    """Return the bytes of every (non-null) value of a binary/string array, concatenated."""
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(b"", arr.type))
    if len(arr) == 0:
        return memoryview(b"")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = memoryview(arr.buffers()[1]).cast("i")
    data = arr.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[offsets[arr.offset] : offsets[arr.offset + len(arr)]]


class RecordDigest:
    """An order-sensitive sha256 over records' timestamps, keys, values and headers.

    It is computed column by column (lengths, with -1 for null, and the concatenated bytes of
    each column), so it costs no Python work per record and does not depend on how records
    are split into batches. The restore computes it from the backup's Arrow columns and the
    read-back from the records consumed from the target: equal digests mean byte-identical
    records in the same order. Integers are hashed in the host's (little-endian) byte order.
    """

    PARTS = ("ts", "key_len", "key", "value_len", "value", "hcount", "hkey_len", "hkey")
    PARTS += ("hvalue_len", "hvalue")

    def __init__(self) -> None:
        self._h = {part: hashlib.sha256() for part in self.PARTS}
        self.count = 0

    def add_arrays(
        self, timestamps: pa.Array, keys: pa.Array, values: pa.Array, headers: pa.Array
    ) -> None:
        """Fold a run of records, given as Arrow columns, into the digest."""
        h = self._h
        h["ts"].update(_int64_bytes(pc.fill_null(timestamps.cast(pa.int64()), -1)))
        h["key_len"].update(_int64_bytes(_lengths(keys)))
        h["key"].update(_concat(keys))
        h["value_len"].update(_int64_bytes(_lengths(values)))
        h["value"].update(_concat(values))
        h["hcount"].update(
            _int64_bytes(pc.fill_null(pc.list_value_length(headers).cast(pa.int64()), 0))
        )
        flat = headers.flatten()
        h["hkey_len"].update(_int64_bytes(_lengths(flat.field("key"))))
        h["hkey"].update(_concat(flat.field("key")))
        h["hvalue_len"].update(_int64_bytes(_lengths(flat.field("value"))))
        h["hvalue"].update(_concat(flat.field("value")))
        self.count += len(values)

    def add_batch(self, batch: pa.RecordBatch) -> None:
        """Fold the records of a backup record batch into the digest."""
        self.add_arrays(
            batch.column("timestamp"),
            batch.column("key"),
            batch.column("value"),
            batch.column("headers"),
        )

    def add_lists(
        self,
        timestamps: list[int],
        keys: list[bytes | None],
        values: list[bytes | None],
        headers: list[list[Header] | None],
    ) -> None:
        """Fold records given as Python lists (as consumed from Kafka) into the digest."""
        self.add_arrays(
            pa.array(timestamps, pa.int64()),
            pa.array(keys, pa.binary()),
            pa.array(values, pa.binary()),
            headers_array(headers),
        )

    def hexdigest(self) -> str:
        """Return the digest so far."""
        top = hashlib.sha256()
        for part in self.PARTS:
            top.update(self._h[part].digest())
        return top.hexdigest()


def _int64_bytes(arr: pa.Array) -> memoryview:
    """Return the values of an int64 array without nulls as bytes (host byte order)."""
    if len(arr) == 0:
        return memoryview(b"")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return memoryview(arr.buffers()[1])[arr.offset * 8 : (arr.offset + len(arr)) * 8]
