"""Pure backup logic: resume positions, continuity, topic selection, holes, 3-2-1, records."""

import pyarrow as pa
import pytest

from streamdr.backup.catalog import (
    bounds_findings,
    continuity_findings,
    coverage_holes,
    progress,
    summarize,
)
from streamdr.backup.model import (
    GAP_ABSENT,
    GAP_RETENTION,
    Gap,
    ManifestEntry,
    TopicPartition,
)
from streamdr.backup.records import ColumnBuffer, RecordDigest, encode_parquet, iter_batches
from streamdr.backup.service import plan_starts, select_topics
from streamdr.backup.verify import StoreVerification, evaluate_321
from streamdr.backup.writer import _Partition
from streamdr.errors import InputError, StateError

TP = TopicPartition("t", 0)


def data(start, first, last, gaps=(), absent=0):
    return ManifestEntry(
        "t",
        0,
        start,
        last + 1,
        last - first + 1 - absent,
        first,
        last,
        1,
        2,
        key=f"k{first}",
        gaps=tuple(gaps),
        absent=absent,
    )


def test_progress_is_the_end_of_the_last_entry():
    assert progress([data(0, 0, 9), data(10, 10, 19)]) == {TP: 20}


def test_continuity_accepts_tiling_and_reports_holes_and_overlaps():
    gap_entry = ManifestEntry("t", 0, 20, 30, 0, gaps=(Gap(20, 30, GAP_RETENTION),))
    assert continuity_findings([data(0, 0, 9), data(10, 10, 19), gap_entry, data(30, 30, 39)]) == []
    hole = continuity_findings([data(0, 0, 9), data(15, 15, 19)])
    assert [f.kind for f in hole] == ["continuity"] and "10-14" in hole[0].detail
    overlap = continuity_findings([data(0, 0, 9), data(5, 5, 19)])
    assert [f.kind for f in overlap] == ["overlap"]


def test_unbalanced_entries_are_reported():
    bad = ManifestEntry("t", 0, 0, 10, 5, 0, 9, 1, 2, key="k")
    assert [f.kind for f in continuity_findings([bad])] == ["entry"]
    ok = ManifestEntry(
        "t", 0, 0, 10, 5, 2, 9, 1, 2, key="k", gaps=(Gap(0, 2, "retention"),), absent=3
    )
    assert continuity_findings([ok]) == []


def test_plan_starts_resumes_records_retention_gaps_and_refuses_recreated_topics():
    tp1 = TopicPartition("t", 1)
    starts, gaps = plan_starts({TP: 100, tp1: 5}, {TP: 50, tp1: 20}, {TP: 200, tp1: 30}, False)
    assert [(s.tp.partition, s.offset, s.stop_at) for s in starts] == [(0, 100, 200), (1, 20, 30)]
    assert [(g.start_offset, g.end_offset, g.gaps) for g in gaps] == [
        (5, 20, (Gap(5, 20, GAP_RETENTION),))
    ]
    new_tp = TopicPartition("new", 0)
    starts, _ = plan_starts({}, {new_tp: 7}, {new_tp: 9}, True)
    assert starts[0].offset == 7 and starts[0].stop_at is None
    with pytest.raises(StateError, match="recreated"):
        plan_starts({TP: 500}, {TP: 0}, {TP: 10}, False)


def test_select_topics():
    names = ["__consumer_offsets", "orders", "mm2-offset-syncs.dr.internal", "a.b", "heartbeats"]
    assert select_topics(names, None) == ["a.b", "heartbeats", "orders"]
    assert select_topics(names, r"or.*") == ["orders"]
    assert select_topics(names, r"a\.b") == ["a.b"]
    with pytest.raises(InputError, match="no topic matches"):
        select_topics(names, "ord")  # the whole name must match
    with pytest.raises(InputError, match="not a regular expression"):
        select_topics(names, "(")


def test_partition_hole_accounting_splits_retention_from_absent():
    part = _Partition(TP, 10, None)
    part.hole(20, low_watermark=15)  # 10-14 deleted by retention, 15-19 absent (compacted)
    assert part.gaps == [Gap(10, 15, GAP_RETENTION)] and part.absent == 5
    part.expected = 21
    part.hole(25, low_watermark=0)
    assert part.absent == 9 and len(part.gaps) == 1
    assert GAP_ABSENT == "absent"


def test_summary_counts_and_age():
    from datetime import UTC, datetime

    entries = [data(0, 0, 9), data(10, 10, 19)]
    (s,) = summarize(entries)
    assert s.records == 20 and s.max_timestamp == 2
    assert s.age_seconds(datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC)) == pytest.approx(9.998)


def report(name, media, offsite, keys, errors=0):
    from streamdr.backup.catalog import Finding

    r = StoreVerification(name, media, offsite, False, entry_keys=set(keys))
    r.findings = [Finding("error", "missing", name, "x")] * errors
    return r


def test_321_rule():
    keys = {"a", "b"}
    assert evaluate_321(
        [report("local", "disk", False, keys), report("s3", "object", True, keys)]
    ).passed
    same_media = evaluate_321([report("a", "disk", False, keys), report("b", "disk", True, keys)])
    assert not same_media.passed and any("media" in r for r in same_media.reasons)
    no_offsite = evaluate_321(
        [report("a", "disk", False, keys), report("b", "object", False, keys)]
    )
    assert not no_offsite.passed
    one = evaluate_321([report("a", "disk", False, keys)])
    assert not one.passed and one.copies == ("a",)
    incomplete = evaluate_321(
        [report("a", "disk", False, keys), report("b", "object", True, {"a"})]
    )
    assert not incomplete.passed and any("lacks 1" in r for r in incomplete.reasons)
    # extra entries elsewhere (e.g. an archive store) do not make the primary incomplete
    archive = report("archive", "archive", True, {"old"})
    three = evaluate_321(
        [report("a", "disk", False, keys), report("b", "object", True, keys), archive]
    )
    assert three.passed and three.copies == ("a", "b")
    broken = evaluate_321(
        [report("a", "disk", False, keys), report("b", "object", True, keys, errors=1)]
    )
    assert not broken.passed


def test_records_round_trip_through_parquet_with_nulls_and_repeated_headers():
    buf = ColumnBuffer("t", 3)
    rows = [
        (5, 1000, 1, None, b"v", None),
        (6, 1001, 1, b"k", None, [("h", b"1"), ("h", b"\x00\xff"), ("n", None)]),
        (9, 1002, 2, b"", b"", []),
    ]
    for off, ts, tt, k, v, h in rows:
        buf.offsets.append(off), buf.timestamps.append(ts), buf.ts_types.append(tt)
        buf.keys.append(k), buf.values.append(v), buf.headers.append(h)
    data = encode_parquet(buf.to_table())
    (batch,) = list(iter_batches(data))
    assert batch.column("key").to_pylist() == [None, b"k", b""]
    assert batch.column("value").to_pylist() == [b"v", None, b""]
    assert batch.column("headers").to_pylist()[1] == [
        {"key": "h", "value": b"1"},
        {"key": "h", "value": b"\x00\xff"},
        {"key": "n", "value": None},
    ]
    assert batch.column("timestamp").cast(pa.int64()).to_pylist() == [1000, 1001, 1002]
    assert batch.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")


def _digest(*batches):
    d = RecordDigest()
    for batch in batches:
        d.add_lists(*map(list, zip(*batch, strict=True)))
    return d.hexdigest()


def test_digest_distinguishes_null_from_empty_and_header_order():
    base = (1, b"k", b"v", [("a", b"1"), ("b", b"2")])
    assert _digest([base]) == _digest([base])
    assert _digest([(1, None, b"v", None)]) != _digest([(1, b"", b"v", None)])
    assert _digest([(1, b"k", None, None)]) != _digest([(1, b"k", b"", None)])
    assert _digest([(1, b"k", b"v", [("a", None)])]) != _digest([(1, b"k", b"v", [("a", b"")])])
    assert _digest([base]) != _digest([(1, b"k", b"v", [("b", b"2"), ("a", b"1")])])
    assert _digest([base, (2, b"x", b"y", None)]) != _digest([(2, b"x", b"y", None), base])
    assert _digest([(1, b"ab", b"c", None)]) != _digest([(1, b"a", b"bc", None)])
    # no headers and an empty header list are the same record in Kafka
    assert _digest([(1, b"k", b"v", None)]) == _digest([(1, b"k", b"v", [])])


def test_digest_does_not_depend_on_batching_or_on_the_source_of_the_columns():
    records = [
        (
            i,
            None if i % 3 == 0 else b"k%d" % i,
            None if i % 4 == 0 else bytes(i % 9),
            [("h", b"%d" % i), ("h", None)] if i % 2 else None,
        )
        for i in range(50)
    ]
    one = _digest(records)
    assert one == _digest(records[:7], records[7:30], records[30:])
    buf = ColumnBuffer("t", 0)
    for i, (ts, k, v, h) in enumerate(records):
        buf.offsets.append(i), buf.timestamps.append(ts), buf.ts_types.append(1)
        buf.keys.append(k), buf.values.append(v), buf.headers.append(h)
    data = encode_parquet(buf.to_table())
    d = RecordDigest()
    for batch in iter_batches(data, batch_rows=16):
        d.add_batch(batch.slice(0, 5))  # sliced arrays have a non-zero offset
        d.add_batch(batch.slice(5))
    assert d.hexdigest() == one and d.count == 50


@pytest.mark.parametrize(
    ("kept", "bounds", "holes"),
    [
        ([0, 1, 2], (0, 30), []),
        ([1, 2], (0, 30), [("head", 0, 10)]),
        ([0, 2], (0, 30), [("middle", 10, 20)]),
        ([0, 1], (0, 30), [("tail", 20, 30)]),
        ([], (0, 30), [("all", 0, 30)]),
        ([1], None, []),  # no bounds record: only middle holes can be seen
        ([0, 1, 2], (10, 20), []),  # entries outside the bounds (a crash) are no hole
    ],
)
def test_coverage_holes_against_the_bounds(kept, bounds, holes):
    all_entries = [data(0, 0, 9), data(10, 10, 19), data(20, 20, 29)]
    items = [all_entries[i] for i in kept]
    found = coverage_holes(items, bounds)
    assert [(h.kind, h.start, h.end) for h in found] == holes


def test_bounds_findings_are_errors_and_missing_bounds_a_warning():
    entries = [data(10, 10, 19)]
    findings = bounds_findings(entries, {TP: (0, 30)})
    assert [(f.severity, f.kind) for f in findings] == [
        ("error", "missing-head"),
        ("error", "missing-tail"),
    ]
    assert "offsets 0-9" in findings[0].detail and "offsets 20-29" in findings[1].detail
    assert [(f.severity, f.kind) for f in bounds_findings(entries, {})] == [
        ("warning", "no-bounds")
    ]
