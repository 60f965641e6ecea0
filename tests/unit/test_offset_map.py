"""Offset maps and the translation of consumer-group offsets through them (pure)."""

from datetime import UTC, datetime

import pytest

from streamdr.backup.model import GroupOffsets, GroupsSnapshot, TopicPartition
from streamdr.errors import InputError
from streamdr.restore.group_offsets import groups_to_restore, plan_group_offsets
from streamdr.restore.offsetmap import OffsetMapBuilder, OffsetRun, translate_offset
from streamdr.restore.rewind import plan_changes


def test_contiguous_records_make_one_run_even_across_batches():
    b = OffsetMapBuilder()
    b.add_contiguous(100, 0, 50)
    b.add_contiguous(150, 50, 25)
    assert b.runs == [OffsetRun(100, 0, 75)]


def test_holes_split_runs():
    b = OffsetMapBuilder()
    b.add_range([5, 6, 7, 10, 11, 20], 1000)
    assert b.runs == [OffsetRun(5, 1000, 3), OffsetRun(10, 1003, 2), OffsetRun(20, 1005, 1)]
    b.add_contiguous(21, 1006, 4)
    assert b.runs[-1] == OffsetRun(20, 1005, 5)


RUNS = [OffsetRun(5, 1000, 3), OffsetRun(10, 1003, 2), OffsetRun(20, 1005, 5)]
END = 1010


@pytest.mark.parametrize(
    ("committed", "restored"),
    [
        (0, 1000),  # before the restored range: resume at its start
        (5, 1000),
        (7, 1002),
        (8, 1003),  # in a hole: the next restored record
        (11, 1004),
        (12, 1005),
        (24, 1009),
        (25, END),  # after the last restored record: the end
        (10_000, END),
    ],
)
def test_translate_offset(committed, restored):
    assert translate_offset(RUNS, committed, END) == restored


def test_translate_with_no_runs_is_the_end():
    assert translate_offset([], 42, 7) == 7


def _snapshot():
    at = datetime(2025, 1, 1, tzinfo=UTC)
    return GroupsSnapshot(
        "20250101T000000000Z",
        "primary",
        at,
        {
            "billing": GroupOffsets(
                "billing",
                "EMPTY",
                {TopicPartition("orders", 0): 7, TopicPartition("orders", 1): 3},
            ),
            "audit": GroupOffsets("audit", "STABLE", {TopicPartition("other", 0): 1}),
        },
    )


def test_group_offsets_are_mapped_per_restored_partition():
    maps = {0: (RUNS, END)}  # only partition 0 restored
    changes = plan_group_offsets(_snapshot(), ["billing"], "orders", "orders.r", maps)
    assert [(c.group, c.topic, c.partition, c.original, c.restored) for c in changes] == [
        ("billing", "orders.r", 0, 7, 1002)
    ]


def test_groups_to_restore_validates_names():
    snap = _snapshot()
    assert groups_to_restore(snap, "orders", (), all_groups=True) == ["billing"]
    assert groups_to_restore(snap, "orders", ("billing",), all_groups=False) == ["billing"]
    assert groups_to_restore(None, "orders", (), all_groups=False) == []
    with pytest.raises(InputError, match="audit"):
        groups_to_restore(snap, "orders", ("audit",), all_groups=False)
    with pytest.raises(InputError, match="no consumer-group snapshot"):
        groups_to_restore(None, "orders", ("billing",), all_groups=False)


def test_plan_changes_shows_current_and_new():
    tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    changes = plan_changes("g", {tp0: 50}, {tp1: 3, tp0: 10})
    assert [c.as_dict()["moves_by"] for c in changes] == [-40, None]
    assert [(c.partition, c.current, c.new) for c in changes] == [(0, 50, 10), (1, None, 3)]
