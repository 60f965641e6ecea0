"""`offsets rewind` planning: never forward by default, a partition filter, counts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamdr.backup.model import TopicPartition
from streamdr.errors import InputError
from streamdr.restore.rewind import (
    OffsetChange,
    never_forward,
    parse_partitions,
    plan_rewind,
    select_rewind,
)

WHEN = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
# Partition 0 was ahead of the time (re-read 17), 1 lagged behind it (a forward move would skip
# 104 offsets), 2 had no committed offset yet, 3 is exactly at the time.
PLANNED = [
    OffsetChange("g", "t", 0, 58, 41),
    OffsetChange("g", "t", 1, 69, 173),
    OffsetChange("g", "t", 2, None, 5),
    OffsetChange("g", "t", 3, 7, 7),
]


class FakeGroups:
    """A GroupAdmin stand-in answering from dictionaries (no Kafka: the plan is pure)."""

    def __init__(self, committed: dict[TopicPartition, int], at_time: dict[int, int]) -> None:
        self._committed, self._at_time, self.inactive_checked = committed, at_time, False

    def require_inactive(self, group: str) -> None:
        self.inactive_checked = True

    def committed(self, group: str) -> dict[TopicPartition, int]:
        return self._committed

    def offsets_for_time(self, topic: str, timestamp_ms: int) -> dict[int, int]:
        return self._at_time


def test_forward_move_is_refused_by_default_and_kept_with_the_wanted_offset():
    by_partition = {c.partition: c for c in select_rewind(PLANNED)}
    assert by_partition[1] == OffsetChange("g", "t", 1, 69, 69, held_from=173)
    assert by_partition[1].skipped == 0 and by_partition[1].as_dict()["held_from"] == 173
    assert by_partition[0].new == 41 and by_partition[2].new == 5 and by_partition[3].new == 7


def test_allow_forward_keeps_the_forward_move_and_counts_what_it_skips():
    forward = next(c for c in select_rewind(PLANNED, allow_forward=True) if c.partition == 1)
    assert forward.new == 173 and forward.skipped == 104 and forward.reread == 0
    assert forward.as_dict()["skipped_offsets"] == 104


def test_counts_of_reread_and_skipped_offsets():
    back, _fwd, first, same = PLANNED
    assert (back.reread, back.skipped) == (17, 0)
    assert (first.reread, first.skipped) == (None, None)
    assert (same.reread, same.skipped) == (0, 0)
    assert back.as_dict()["moves_by"] == -17 and back.as_dict()["reread_offsets"] == 17


def test_partition_filter_keeps_only_the_named_partitions():
    assert [c.partition for c in select_rewind(PLANNED, partitions=(0, 3))] == [0, 3]


def test_partition_filter_rejects_a_partition_the_topic_does_not_have():
    with pytest.raises(InputError, match="--partitions 9 not in the rewound topic"):
        select_rewind(PLANNED, partitions=(0, 9))


def test_never_forward_leaves_backward_and_first_offsets_alone():
    assert never_forward(PLANNED[0]) is PLANNED[0]
    assert never_forward(PLANNED[2]) is PLANNED[2]


@pytest.mark.parametrize("text", ["a,b", "", "-1", ","])
def test_bad_partition_lists_are_input_errors(text):
    with pytest.raises(InputError):
        parse_partitions(text)


def test_partition_list_is_sorted_and_deduplicated():
    assert parse_partitions("3, 0,3") == (0, 3)
    assert parse_partitions(None) is None


def test_plan_rewind_holds_a_lagging_partition_and_filters():
    groups = FakeGroups({TopicPartition("t", 0): 58, TopicPartition("t", 1): 69}, {0: 41, 1: 173})
    plan = plan_rewind(groups, "g", "t", WHEN)  # type: ignore[arg-type]
    assert [(c.partition, c.current, c.new) for c in plan] == [(0, 58, 41), (1, 69, 69)]
    assert groups.inactive_checked
    only_1 = plan_rewind(groups, "g", "t", WHEN, partitions=(1,), allow_forward=True)  # type: ignore[arg-type]
    assert [(c.partition, c.new) for c in only_1] == [(1, 173)]


def test_plan_rewind_partitions_need_a_topic():
    with pytest.raises(InputError, match="--partitions needs --topic"):
        plan_rewind(FakeGroups({}, {}), "g", None, WHEN, partitions=(0,))  # type: ignore[arg-type]
