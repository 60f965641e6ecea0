"""Restore planning (pure): time windows across day boundaries, partition subsets, counts."""

from datetime import UTC, datetime, timedelta

import pytest

from streamdr.backup.model import GAP_RETENTION, Gap, ManifestEntry, TopicInfo
from streamdr.clock import datetime_to_ms
from streamdr.errors import InputError
from streamdr.restore.plan import RestoreRequest, TimeWindow, plan_from_dict, plan_restore

NOW = datetime(2025, 11, 20, tzinfo=UTC)
DAY1 = datetime(2025, 11, 14, 22, 0, tzinfo=UTC)  # files around midnight 14 → 15 November


def entry(partition, first, last, t0, t1, key=None, gaps=()):
    n = last - first + 1
    start = min([first, *(g.start for g in gaps)])
    return ManifestEntry(
        topic="orders",
        partition=partition,
        start_offset=start,
        end_offset=last + 1,
        records=n,
        first_offset=first,
        last_offset=last,
        min_timestamp=datetime_to_ms(t0),
        max_timestamp=datetime_to_ms(t1),
        key=key or f"k/{partition}/{first}",
        bytes=100,
        sha256="x",
        gaps=tuple(gaps),
    )


def catalog():
    h = timedelta(hours=1)
    out = []
    for p in range(3):
        out += [
            entry(p, 0, 99, DAY1, DAY1 + h),  # 22:00 - 23:00 on the 14th
            entry(
                p, 100, 199, DAY1 + h, DAY1 + 2 * h - timedelta(milliseconds=1)
            ),  # to 23:59:59.999
            entry(p, 200, 299, DAY1 + 2 * h, DAY1 + 3 * h),  # 00:00 - 01:00 on the 15th
        ]
    return out


INFO = TopicInfo("orders", 3, 3, {"min.insync.replicas": "2"})


def req(**kw):
    return RestoreRequest(topic="orders", to_site="primary", **kw)


def test_whole_topic_plan_counts_every_record():
    plan = plan_restore(catalog(), req(), INFO, now=NOW)
    assert plan.expected == 900
    assert [p.partition for p in plan.partitions] == [0, 1, 2]
    assert all(f.whole for f in plan.files)
    assert plan.topic.partitions == 3 and plan.topic.config["min.insync.replicas"] == "2"
    assert plan.topic.config["message.timestamp.type"] == "CreateTime"


def test_window_crossing_midnight_selects_files_on_both_days():
    start = DAY1 + timedelta(hours=1, minutes=30)  # 23:30 on the 14th
    end = DAY1 + timedelta(hours=2, minutes=30)  # 00:30 on the 15th
    plan = plan_restore(catalog(), req(from_time=start, to_time=end), INFO, now=NOW)
    p0 = plan.partitions[0]
    assert [f.entry.first_offset for f in p0.files] == [100, 200]
    assert [f.whole for f in p0.files] == [False, False]
    assert plan.expected is None  # partial files are counted by reading them


def test_exact_counts_for_partial_files_are_used():
    start = DAY1 + timedelta(hours=2)  # exactly midnight: the 23:xx file is excluded
    end = DAY1 + timedelta(hours=2, minutes=30)
    counts = {f"k/{p}/200": 50 for p in range(3)}
    plan = plan_restore(catalog(), req(from_time=start, to_time=end), INFO, now=NOW, counts=counts)
    assert [[f.entry.first_offset for f in p.files] for p in plan.partitions] == [[200]] * 3
    assert plan.expected == 150


def test_window_end_is_exclusive():
    end = DAY1 + timedelta(hours=1)  # == max of the first file, == min of the second
    plan = plan_restore(catalog(), req(to_time=end), INFO, now=NOW)
    p0 = plan.partitions[0]
    assert [(f.entry.first_offset, f.whole) for f in p0.files] == [(0, False)]


def test_partition_subset():
    plan = plan_restore(catalog(), req(partitions=(2, 0)), INFO, now=NOW)
    assert [p.partition for p in plan.partitions] == [0, 2]
    assert plan.expected == 600
    assert plan.topic.partitions == 3  # the target keeps the full partition count


def test_unknown_partition_topic_and_empty_ranges_are_input_errors():
    with pytest.raises(InputError, match="partitions \\[7\\]"):
        plan_restore(catalog(), req(partitions=(0, 7)), INFO, now=NOW)
    with pytest.raises(InputError, match="no backup of topic"):
        plan_restore(catalog(), RestoreRequest(topic="nope", to_site="primary"), INFO, now=NOW)
    with pytest.raises(InputError, match="is empty"):
        plan_restore(catalog(), req(from_time=DAY1, to_time=DAY1), INFO, now=NOW)
    with pytest.raises(InputError, match="no backed-up records"):
        plan_restore(catalog(), req(from_time=NOW), INFO, now=NOW)
    counts = {f"k/{p}/0": 0 for p in range(3)}
    with pytest.raises(InputError, match="no backed-up records"):
        plan_restore(
            catalog(), req(to_time=DAY1 + timedelta(minutes=1)), INFO, now=NOW, counts=counts
        )


def test_missing_topic_snapshot_derives_partition_count_and_warns():
    plan = plan_restore(catalog(), req(partitions=(1,)), None, now=NOW)
    assert plan.topic.partitions == 3
    assert any("no topic snapshot" in w for w in plan.warnings)


def test_warnings_for_retention_gaps_old_records_and_log_append_time():
    gap = Gap(100, 150, GAP_RETENTION)
    entries = [e for e in catalog() if e.partition != 1] + [
        entry(1, 0, 99, DAY1, DAY1 + timedelta(hours=1)),
        entry(1, 150, 199, DAY1 + timedelta(hours=1), DAY1 + timedelta(hours=2), gaps=[gap]),
    ]
    info = TopicInfo("orders", 3, 3, {"message.timestamp.type": "LogAppendTime"})
    plan = plan_restore(entries, req(), info, now=NOW + timedelta(days=30))
    text = " ".join(plan.warnings)
    assert "deleted by Kafka retention" in text and "100-149" in text
    assert "LogAppendTime" in text
    assert "retention.ms" in text
    assert plan.partitions[1].lost == (gap,)
    quiet = plan_restore(entries, req(config=(("retention.ms", "-1"),)), INFO, now=NOW)
    assert not any("exceed the target" in w for w in quiet.warnings)


def test_to_topic_and_config_override():
    plan = plan_restore(
        catalog(), req(to_topic="orders.restored", config=(("retention.ms", "-1"),)), INFO, now=NOW
    )
    assert plan.request.target_topic == "orders.restored"
    assert plan.topic.name == "orders.restored"
    assert plan.topic.config["retention.ms"] == "-1"


def test_plan_survives_a_json_round_trip():
    start = DAY1 + timedelta(hours=1, minutes=30)
    request = req(from_time=start, partitions=(0, 1))
    plan = plan_restore(catalog(), request, INFO, now=NOW, store="local", prefix="kafka/primary")
    again = plan_from_dict(plan.as_dict(), request)
    assert again.as_dict() == plan.as_dict()


def test_time_window_bounds():
    w = TimeWindow(10, 20)
    assert w.overlaps(0, 10) and w.overlaps(19, 30) and not w.overlaps(20, 30)
    assert not w.overlaps(0, 9)
    assert w.covers(10, 19) and not w.covers(10, 20)
    assert TimeWindow().unbounded and TimeWindow().covers(-5, 5)


def test_catalog_holes_inside_the_plan_are_warned_about():
    entries = [e for e in catalog() if not (e.partition == 1 and e.first_offset == 100)]
    plan = plan_restore(entries, req(), INFO, now=NOW)
    (hole,) = [w for w in plan.warnings if "no catalog entry" in w]
    assert "partition 1: offsets 100-199" in hole
    assert plan.partitions[1].expected == 200


BOUNDS = {p: (0, 300) for p in range(3)}


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (0, "partition 1: offsets 0-99 are before the first catalog entry"),
        (100, "partition 1: offsets 100-199 are in no catalog entry"),
        (200, "partition 1: offsets 200-299 are after the last catalog entry"),
    ],
    ids=["first", "middle", "last"],
)
def test_a_deleted_first_middle_or_last_entry_is_warned_about(first, expected):
    entries = [e for e in catalog() if not (e.partition == 1 and e.first_offset == first)]
    plan = plan_restore(entries, req(), INFO, now=NOW, bounds=BOUNDS)
    (hole,) = [w for w in plan.warnings if "catalog entry" in w]
    assert hole.startswith(expected) and "backup verify" in hole
    assert plan.partitions[1].expected == 200


def test_holes_outside_the_time_window_are_still_warned_about():
    entries = [e for e in catalog() if not (e.partition == 0 and e.first_offset == 0)]
    window = req(from_time=DAY1 + timedelta(hours=2), partitions=(0,))
    plan = plan_restore(entries, window, INFO, now=NOW, bounds=BOUNDS)
    assert any("partition 0: offsets 0-99 are before the first" in w for w in plan.warnings)


def test_a_complete_catalog_within_its_bounds_has_no_hole_warnings():
    plan = plan_restore(catalog(), req(), INFO, now=NOW, bounds=BOUNDS)
    assert not [w for w in plan.warnings if "catalog entry" in w]
