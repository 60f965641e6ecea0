"""MirrorMaker 2's internal records, decoded and encoded exactly as Kafka does.

The formats are Kafka protocol ``Struct`` encodings (big-endian integers, ``STRING`` = int16 length
+ UTF-8), from ``connect/mirror-client`` ``Checkpoint.java`` and ``Heartbeat.java`` and
``connect/mirror`` ``OffsetSync.java``:

============  =====================================  ===============================================
record        key                                    value
============  =====================================  ===============================================
Checkpoint    group, topic (downstream), partition   version int16 (0), upstream int64,
                                                     downstream int64, metadata STRING
OffsetSync    topic (upstream), partition            upstream int64, downstream int64 (no version)
Heartbeat     source alias, target alias             version int16 (0), timestamp int64 (ms)
============  =====================================  ===============================================

Encoders exist for tests and for round trips; streamdr never writes these topics.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from streamdr.errors import StreamdrError

SUPPORTED_VERSION = 0


class RecordFormatError(StreamdrError):
    """A record of an MM2 internal topic does not have the documented layout."""


class _Reader:
    """Sequential reader over a Kafka Struct encoding."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise RecordFormatError(
                f"truncated {self.what}: wanted {n} bytes at {self.pos} of {len(self.data)}",
                hint="The topic holds records that are not MirrorMaker 2's; check the topic name.",
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int16(self) -> int:
        return int(struct.unpack(">h", self._take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack(">q", self._take(8))[0])

    def string(self) -> str:
        length = self.int16()
        try:
            return self._take(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordFormatError(f"{self.what}: string is not UTF-8") from exc

    def version(self) -> int:
        version = self.int16()
        if version != SUPPORTED_VERSION:
            raise RecordFormatError(
                f"{self.what}: unsupported version {version}",
                hint="A newer MirrorMaker 2 wrote this record; upgrade streamdr.",
            )
        return version

    def done(self) -> None:
        if self.pos != len(self.data):
            raise RecordFormatError(
                f"{self.what}: {len(self.data) - self.pos} unexpected trailing bytes"
            )


def _string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack(">h", len(raw)) + raw


@dataclass(frozen=True)
class Checkpoint:
    """A group's upstream offset and its translation (``<source>.checkpoints.internal``)."""

    group: str
    topic: str  # downstream (remote) topic name on the target
    partition: int
    upstream_offset: int
    downstream_offset: int
    metadata: str = ""


@dataclass(frozen=True)
class OffsetSync:
    """One upstream ↔ downstream offset pair (``mm2-offset-syncs.<target>.internal``)."""

    topic: str  # upstream topic name on the source
    partition: int
    upstream_offset: int
    downstream_offset: int


@dataclass(frozen=True)
class Heartbeat:
    """A liveness record MM2 emits every ``emit.heartbeats.interval.seconds``."""

    source: str
    target: str
    timestamp_ms: int


def parse_checkpoint(key: bytes, value: bytes) -> Checkpoint:
    """Return the checkpoint in a record; raises RecordFormatError on a malformed one."""
    k = _Reader(key, "checkpoint key")
    group, topic, partition = k.string(), k.string(), k.int32()
    k.done()
    v = _Reader(value, "checkpoint value")
    v.version()
    upstream, downstream, metadata = v.int64(), v.int64(), v.string()
    v.done()
    return Checkpoint(group, topic, partition, upstream, downstream, metadata)


def encode_checkpoint(cp: Checkpoint) -> tuple[bytes, bytes]:
    """Return the (key, value) bytes MM2 would write for ``cp``."""
    key = _string(cp.group) + _string(cp.topic) + struct.pack(">i", cp.partition)
    value = struct.pack(
        ">hqq", SUPPORTED_VERSION, cp.upstream_offset, cp.downstream_offset
    ) + _string(cp.metadata)
    return key, value


def parse_offset_sync(key: bytes, value: bytes) -> OffsetSync:
    """Return the offset sync in a record; raises RecordFormatError on a malformed one."""
    k = _Reader(key, "offset-sync key")
    topic, partition = k.string(), k.int32()
    k.done()
    v = _Reader(value, "offset-sync value")
    upstream, downstream = v.int64(), v.int64()
    v.done()
    return OffsetSync(topic, partition, upstream, downstream)


def encode_offset_sync(sync: OffsetSync) -> tuple[bytes, bytes]:
    """Return the (key, value) bytes MM2 would write for ``sync``."""
    key = _string(sync.topic) + struct.pack(">i", sync.partition)
    return key, struct.pack(">qq", sync.upstream_offset, sync.downstream_offset)


def parse_heartbeat(key: bytes, value: bytes) -> Heartbeat:
    """Return the heartbeat in a record; raises RecordFormatError on a malformed one."""
    k = _Reader(key, "heartbeat key")
    source, target = k.string(), k.string()
    k.done()
    v = _Reader(value, "heartbeat value")
    v.version()
    timestamp = v.int64()
    v.done()
    return Heartbeat(source, target, timestamp)


def encode_heartbeat(hb: Heartbeat) -> tuple[bytes, bytes]:
    """Return the (key, value) bytes MM2 would write for ``hb``."""
    key = _string(hb.source) + _string(hb.target)
    return key, struct.pack(">hq", SUPPORTED_VERSION, hb.timestamp_ms)
