"""MM2 internal records decoded from bytes captured from real MirrorMaker 2 4.1.2 on the lab."""

import json
import struct
from pathlib import Path

import pytest

from streamdr.replication.mm2.records import (
    Checkpoint,
    Heartbeat,
    OffsetSync,
    RecordFormatError,
    encode_checkpoint,
    encode_heartbeat,
    encode_offset_sync,
    parse_checkpoint,
    parse_heartbeat,
    parse_offset_sync,
)

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "mm2_records.json").read_text())


def records(kind):
    return [(bytes.fromhex(r["key"]), bytes.fromhex(r["value"])) for r in FIXTURE[kind]["records"]]


def test_checkpoints_captured_from_mm2_decode_to_group_topic_and_offsets():
    cps = [parse_checkpoint(k, v) for k, v in records("checkpoints")]
    assert cps == [
        Checkpoint("exp-group", "primary_exp.orders", 0, 167, 167, ""),
        # The group was at 133 upstream; the newest sync at or before it was (101, 101).
        Checkpoint("exp-group", "primary_exp.orders", 1, 133, 102, ""),
    ]


def test_offset_syncs_captured_from_mm2_decode():
    syncs = [parse_offset_sync(k, v) for k, v in records("offset_syncs")]
    assert syncs[0] == OffsetSync("heartbeats", 0, 0, 0)
    assert OffsetSync("exp.orders", 1, 101, 101) in syncs
    assert {s.topic for s in syncs} == {"heartbeats", "exp.orders"}


def test_heartbeats_captured_from_mm2_decode():
    local = [parse_heartbeat(k, v) for k, v in records("heartbeats")]
    remote = [parse_heartbeat(k, v) for k, v in records("replicated_heartbeats")]
    assert {(h.source, h.target) for h in local} == {("primary", "dr")}
    # Replicated heartbeats were emitted into primary by the dr->primary herder.
    assert {(h.source, h.target) for h in remote} == {("dr", "primary")}
    assert local[1].timestamp_ms > local[0].timestamp_ms > 1_700_000_000_000


@pytest.mark.parametrize(
    ("kind", "parse", "encode"),
    [
        ("checkpoints", parse_checkpoint, encode_checkpoint),
        ("offset_syncs", parse_offset_sync, encode_offset_sync),
        ("heartbeats", parse_heartbeat, encode_heartbeat),
        ("replicated_heartbeats", parse_heartbeat, encode_heartbeat),
    ],
)
def test_encoding_reproduces_the_captured_bytes_exactly(kind, parse, encode):
    for key, value in records(kind):
        assert encode(parse(key, value)) == (key, value)


def test_unicode_group_names_round_trip():
    cp = Checkpoint("grüppe-✓", "primary_t", 7, 10, 9, "meta")
    assert parse_checkpoint(*encode_checkpoint(cp)) == cp
    hb = Heartbeat("a", "b", 123)
    assert parse_heartbeat(*encode_heartbeat(hb)) == hb


def test_truncated_and_trailing_bytes_are_rejected():
    key, value = records("checkpoints")[0]
    with pytest.raises(RecordFormatError, match="truncated"):
        parse_checkpoint(key[:-1], value)
    with pytest.raises(RecordFormatError, match="trailing"):
        parse_checkpoint(key, value + b"\x00")
    with pytest.raises(RecordFormatError):
        parse_offset_sync(b"\x00\x05ab", b"")


def test_unknown_version_is_rejected_not_misread():
    key, value = records("checkpoints")[0]
    with pytest.raises(RecordFormatError, match="version 1"):
        parse_checkpoint(key, struct.pack(">h", 1) + value[2:])
