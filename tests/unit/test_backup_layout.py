"""Key layout of backups: every shape round-trips and rejects foreign keys."""

from datetime import UTC, datetime

import pytest

from streamdr.backup import layout
from streamdr.backup.layout import LayoutError, ManifestKey, SegmentKey, SnapshotKey

PREFIX = "kafka/primary"


@pytest.mark.parametrize(
    "seg",
    [
        SegmentKey("retail.orders", 0, 0, 0, 2025, 1, 1),
        SegmentKey("a_b-c.D", 17, 123, 456789, 1999, 12, 31),
        SegmentKey("t", 0, 0, 2**63 - 1, 2030, 2, 28),
    ],
)
def test_segment_key_round_trip(seg):
    key = layout.format_segment_key(PREFIX, seg)
    assert layout.parse_segment_key(PREFIX, key) == seg


def test_segment_key_shape_is_the_documented_one():
    key = layout.format_segment_key(PREFIX, SegmentKey("orders", 3, 10, 99, 2025, 3, 7))
    assert key == (
        "kafka/primary/topics/orders/partition=3/year=2025/month=03/day=07/"
        "00000000000000000010-00000000000000000099.parquet"
    )


@pytest.mark.parametrize("gap", [False, True])
def test_manifest_key_round_trip(gap):
    mk = ManifestKey("orders.v2", 5, 1000, 1999, gap)
    key = layout.format_manifest_key(PREFIX, mk)
    assert key.endswith(".gap.json" if gap else "99.json")
    assert layout.parse_manifest_key(PREFIX, key) == mk


def test_snapshot_key_and_id_round_trip():
    at = datetime(2025, 11, 15, 8, 0, 0, 123000, tzinfo=UTC)
    sid = layout.format_snapshot_id(at)
    assert sid == "20251115T080000123Z"
    assert layout.parse_snapshot_id(sid) == at
    sk = SnapshotKey("groups", sid)
    key = layout.format_snapshot_key(PREFIX, sk)
    assert key == "kafka/primary/snapshots/groups/20251115T080000123Z.json"
    assert layout.parse_snapshot_key(PREFIX, key) == sk


def test_snapshot_ids_sort_in_time_order():
    times = [datetime(2025, m, d, h, tzinfo=UTC) for m, d, h in [(1, 2, 3), (12, 1, 0), (3, 9, 23)]]
    ids = [layout.format_snapshot_id(t) for t in times]
    assert sorted(ids) == [layout.format_snapshot_id(t) for t in sorted(times)]


def test_offsets_sort_lexicographically():
    keys = [
        layout.format_manifest_key(PREFIX, ManifestKey("t", 0, first, first + 9))
        for first in (5, 100, 20, 1_000_000)
    ]
    parsed = [layout.parse_manifest_key(PREFIX, k).first_offset for k in sorted(keys)]
    assert parsed == [5, 20, 100, 1_000_000]


@pytest.mark.parametrize(
    "key",
    [
        "kafka/primary/topics/orders/partition=0/year=2025/month=1/day=01/0-9.parquet",
        "kafka/other/topics/orders/partition=0/year=2025/month=01/day=01/"
        "00000000000000000000-00000000000000000009.parquet",
        "kafka/primary/topics/orders/partition=0/year=2025/month=01/day=01/"
        "00000000000000000000-00000000000000000009.parquet.tmp-abc",
        "kafka/primary/topics/or ders/partition=0/year=2025/month=01/day=01/"
        "00000000000000000000-00000000000000000009.parquet",
        "kafka/primary/topics/orders/partition=00/year=2025/month=01/day=01/"
        "00000000000000000000-00000000000000000009.parquet",
    ],
)
def test_parse_segment_key_rejects_foreign_keys(key):
    with pytest.raises(LayoutError):
        layout.parse_segment_key(PREFIX, key)


@pytest.mark.parametrize("prefix", ["", "/abs", "a//b", "a/../b", "a/"])
def test_bad_prefixes_are_rejected(prefix):
    with pytest.raises(LayoutError):
        layout.check_prefix(prefix)


def test_invalid_ranges_and_topics_are_rejected():
    with pytest.raises(LayoutError):
        layout.format_segment_key(PREFIX, SegmentKey("t", 0, 10, 9, 2025, 1, 1))
    with pytest.raises(LayoutError):
        layout.format_manifest_key(PREFIX, ManifestKey("bad/topic", 0, 0, 1))
    with pytest.raises(LayoutError):
        layout.parse_snapshot_id("2025-11-15")


def test_day_of_is_utc():
    assert layout.day_of(0) == (1970, 1, 1)
    # 2025-03-07T23:59:59.999Z and one millisecond later
    assert layout.day_of(1741391999999) == (2025, 3, 7)
    assert layout.day_of(1741392000000) == (2025, 3, 8)


def test_bounds_key_round_trip_and_rejects():
    key = layout.format_bounds_key("kafka/primary", "orders", 3)
    assert key == "kafka/primary/catalog/orders/partition=3/bounds.json"
    assert layout.parse_bounds_key("kafka/primary", key) == ("orders", 3)
    for bad in (
        "kafka/primary/catalog/orders/partition=03/bounds.json",
        "kafka/primary/catalog/orders/partition=3/bounds.json.tmp",
        "kafka/primary/catalog/../partition=3/bounds.json",
        "kafka/other/catalog/orders/partition=3/bounds.json",
    ):
        with pytest.raises(layout.LayoutError):
            layout.parse_bounds_key("kafka/primary", bad)
    with pytest.raises(layout.LayoutError):
        layout.parse_manifest_key("kafka/primary", key)  # never mistaken for an entry


@pytest.mark.parametrize("prefix", ["a\\b", "a/\x00", "/abs", "a/../b", "a//b", ""])
def test_unclean_prefixes_are_refused(prefix):
    with pytest.raises(layout.LayoutError):
        layout.check_prefix(prefix)
