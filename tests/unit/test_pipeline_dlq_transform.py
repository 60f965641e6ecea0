"""DLQ headers, transformation failures as reasons."""

import math
from datetime import UTC, datetime

import pytest

from streamdr.artifacts.api import ChangeEvent, OutputEvent
from streamdr.pipeline import dlq
from streamdr.pipeline.dlq import Coordinates, DeadLetter, dead_letter_record, parse_dlq_headers
from streamdr.pipeline.events import header_map
from streamdr.pipeline.transform import TransformFailed, run_transform

AT = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
LETTER = DeadLetter(
    "client-a-orders",
    "orders@1.2.0",
    "deliver",
    "HTTP 503 from http://x",
    5,
    Coordinates("retail.public.orders", 2, 1234, 1_700_000_000_000),
    AT,
)


def test_dlq_headers_round_trip_and_keep_the_original():
    original = [("streamdr-event-id", b"abc"), ("custom", b"v"), ("streamdr-dlq-error", b"old")]
    key, value, headers = dead_letter_record(b"k", b"v", original, LETTER)
    assert (key, value) == (b"k", b"v")
    names = [h[0] for h in headers]
    assert names[:2] == ["streamdr-event-id", "custom"]  # original first, old DLQ headers gone
    assert names.count("streamdr-dlq-error") == 1
    parsed = parse_dlq_headers(header_map(headers))
    assert parsed == LETTER
    got = header_map(headers)
    assert got[dlq.ATTEMPTS] == "5" and got[dlq.TOPIC] == "retail.public.orders"
    assert got[dlq.PARTITION] == "2" and got[dlq.OFFSET] == "1234"


def test_dlq_error_is_truncated_and_missing_headers_are_refused():
    long = DeadLetter(**{**LETTER.__dict__, "error": "x" * 10_000})
    assert len(header_map(dlq.dlq_headers(long))[dlq.ERROR]) == dlq.MAX_ERROR_CHARS
    with pytest.raises(ValueError, match="missing headers"):
        parse_dlq_headers({dlq.ERROR: "x"})


def test_select_entries_by_time_and_id():
    def entry(eid, at):
        return dlq.DlqEntry(eid, DeadLetter(**{**LETTER.__dict__, "at": at}), 0, 0, None, None)

    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    entries = [entry("a", early), entry("b", late), entry("c", late)]
    assert [e.event_id for e in dlq.select_entries(entries, since=late)] == ["b", "c"]
    assert [e.event_id for e in dlq.select_entries(entries, ids={"a", "c"})] == ["a", "c"]


EVENT = ChangeEvent(
    "ev", "s", "public.t", "insert", {"id": 1}, None, {"id": 1}, datetime.now(UTC), "0/1"
)


@pytest.mark.parametrize(
    ("transform", "reason"),
    [
        (lambda e: 1 / 0, "raised ZeroDivisionError"),
        (lambda e: None, "returned NoneType"),
        (lambda e: ["x"], "not an OutputEvent"),
        (lambda e: [OutputEvent(payload=[1])], "payload is not a mapping"),
        (lambda e: [OutputEvent(payload={"f": math.nan})], "not JSON-serialisable"),
        (lambda e: [OutputEvent(payload={"o": object()})], "not JSON-serialisable"),
        (lambda e: [OutputEvent(payload={}, key=5)], "key is not a string"),
        (lambda e: [OutputEvent(payload={}, headers={"a": 1})], "headers must map"),
        (lambda e: [OutputEvent(payload={})] * 5000, "max 1000"),
    ],
)
def test_garbage_from_a_transformation_becomes_a_reason(transform, reason):
    with pytest.raises(TransformFailed, match=reason):
        run_transform(transform, EVENT)


def test_outputs_get_keys_derived_from_the_event_id():
    out = run_transform(lambda e: [OutputEvent({"a": 1}), OutputEvent({"b": 2}, key="k")], EVENT)
    assert [d.idempotency_key for d in out] == ["ev", "ev/1"]
    assert out[0].body == b'{"a":1}' and out[1].key == "k"
    assert run_transform(lambda e: [], EVENT) == []


def test_rewind_point_and_never_forward():
    from datetime import timedelta

    from streamdr.drills.workflow_failure import rewind_point
    from streamdr.restore.rewind import OffsetChange, never_forward

    deploy = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    early_ms = int((deploy - timedelta(seconds=30)).timestamp() * 1000)

    def entry(ref, ts):
        letter = DeadLetter(
            **{**LETTER.__dict__, "transformation": ref, "origin": Coordinates("t", 0, 1, ts)}
        )
        return dlq.DlqEntry("e", letter, 0, 0, None, None)

    entries = [entry("x@1.1.0", early_ms), entry("x@1.0.0", early_ms - 99_000)]
    assert rewind_point(deploy, entries, "@1.1.0") == deploy - timedelta(seconds=31)
    assert rewind_point(deploy, [], "@1.1.0") == deploy - timedelta(seconds=1)
    assert never_forward(OffsetChange("g", "t", 0, 41, 58)).new == 41
    assert never_forward(OffsetChange("g", "t", 1, 173, 69)).new == 69
    assert never_forward(OffsetChange("g", "t", 2, None, 5)).new == 5
