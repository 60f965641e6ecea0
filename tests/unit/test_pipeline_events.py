"""Event ids and the change-event record format."""

from datetime import UTC, datetime

import pytest

from streamdr.artifacts.api import ChangeEvent
from streamdr.pipeline.events import (
    EVENT_ID_HEADER,
    MalformedRecord,
    SourceChange,
    SourceTransaction,
    change_event_id,
    decode_event,
    encode_event,
    header_map,
    to_change_event,
)

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_event_id_is_stable_and_content_derived():
    a = change_event_id("retail", "0/16B3748", "public.orders", {"id": 7}, 0)
    assert a == change_event_id("retail", "0/16B3748", "public.orders", {"id": 7}, 0)
    assert len(a) == 32 and int(a, 16) >= 0
    # key order in the primary key does not matter; every identity part does
    assert change_event_id("s", "1", "t.t", {"a": 1, "b": 2}, 0) == change_event_id(
        "s", "1", "t.t", {"b": 2, "a": 1}, 0
    )
    others = {
        change_event_id("other", "0/16B3748", "public.orders", {"id": 7}, 0),
        change_event_id("retail", "0/16B3749", "public.orders", {"id": 7}, 0),
        change_event_id("retail", "0/16B3748", "public.lines", {"id": 7}, 0),
        change_event_id("retail", "0/16B3748", "public.orders", {"id": 8}, 0),
        change_event_id("retail", "0/16B3748", "public.orders", {"id": 7}, 1),
    }
    assert a not in others and len(others) == 5


def test_same_change_read_twice_gives_same_record():
    txn = SourceTransaction("0/AB", 171, T, ())
    change = SourceChange("public.orders", "insert", {"id": 1}, None, {"id": 1, "x": "y"}, 0)
    first = encode_event(to_change_event("retail", txn, change), "retail.public.orders")
    again = encode_event(to_change_event("retail", txn, change), "retail.public.orders")
    assert first == again
    assert first.key == b'{"id":1}'
    assert dict(first.headers)[EVENT_ID_HEADER] == first.event_id.encode()


def test_round_trip():
    event = ChangeEvent(
        "e1",
        "retail",
        "public.orders",
        "update",
        {"id": 1},
        {"id": 1, "q": 1},
        {"id": 1, "q": 2},
        T,
        "0/1",
    )
    rec = encode_event(event, "retail.public.orders")
    assert decode_event(rec.value, header_map(rec.headers)) == event


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"\xff\xfe", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"event_id":"e"}', "lacks fields"),
        (
            b'{"event_id":"e","source":"s","table":"t","op":"upsert","key":{},"commit_time":"x"}',
            "unknown operation",
        ),
        (
            b'{"event_id":"e","source":"s","table":"t","op":"insert","key":[],"commit_time":"x"}',
            "key is not",
        ),
        (
            b'{"event_id":"e","source":"s","table":"t","op":"insert","key":{},"commit_time":"x"}',
            "ISO 8601",
        ),
    ],
)
def test_malformed_records_say_why(value, reason):
    with pytest.raises(MalformedRecord, match=reason):
        decode_event(value, {})


def test_header_id_must_match_value():
    event = ChangeEvent("e1", "s", "t.t", "insert", {"id": 1}, None, {"id": 1}, T, "1")
    rec = encode_event(event, "x")
    with pytest.raises(MalformedRecord, match="does not match"):
        decode_event(rec.value, {EVENT_ID_HEADER: "forged"})
