"""Paging through a DLQ: cursors, ranges, progress, idle timeout, replay batches and records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamdr.pipeline.dlq import Coordinates, DeadLetter, DlqEntry
from streamdr.pipeline.dlq_paging import (
    BatchPolicy,
    IdleWatch,
    OffsetRange,
    ReadProgress,
    format_cursor,
    group_offsets,
    parse_cursor,
    plan_ranges,
)
from streamdr.pipeline.replay import (
    MAX_REPORTED_FAILURES,
    ReplayReport,
    _remember,
    replayed_among,
)
from streamdr.store.db import MetadataStore
from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error


@pytest.mark.parametrize(
    ("text", "cursor"),
    [("0:0", {0: 0}), ("2:7,0:1200,1:1180", {0: 1200, 1: 1180, 2: 7}), (" 1:5 , ", {1: 5})],
)
def test_cursor_parses_and_round_trips(text, cursor):
    assert parse_cursor(text) == cursor
    assert parse_cursor(format_cursor(cursor)) == cursor
    assert format_cursor(cursor) == ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


@pytest.mark.parametrize("text", ["", ",", "0", "0:", ":5", "a:1", "0:-1", "0:1,0:2", "0:1:2"])
def test_malformed_cursors_are_refused(text):
    with pytest.raises(ValueError):
        parse_cursor(text)


def test_plan_ranges_starts_at_the_cursor_or_the_low_watermark_and_skips_finished():
    marks = {0: (0, 100), 1: (50, 80), 2: (0, 0), 3: (0, 10)}
    ranges = plan_ranges(marks, {0: 40, 1: 10, 3: 10})
    # 1: retention removed 10..49, so it starts at 50; 2 is empty; 3 was read to its end.
    assert ranges == {0: OffsetRange(40, 100), 1: OffsetRange(50, 80)}


def test_progress_moves_the_cursor_and_finishes_each_partition_at_its_end():
    progress = ReadProgress({0: OffsetRange(0, 3), 1: OffsetRange(5, 6)}, {7: 9})
    assert progress.take(0, 0) and progress.take(1, 5)
    assert not progress.done and progress.cursor() == {0: 1, 1: 6, 7: 9}
    assert progress.take(0, 2)  # offset 1 was a transaction marker: never seen
    assert progress.done and progress.cursor() == {0: 3, 1: 6, 7: 9}


def test_progress_ignores_records_past_the_end_seen_at_the_start():
    progress = ReadProgress({0: OffsetRange(0, 10)})
    assert progress.take(0, 3)
    assert not progress.take(0, 12)  # written after the read started
    assert progress.done and progress.cursor() == {0: 10}
    assert not progress.take(0, 4) and not progress.take(9, 0)


def test_end_of_partition_finishes_it_at_the_stable_offset():
    progress = ReadProgress({0: OffsetRange(0, 10), 1: OffsetRange(0, 4)})
    assert progress.take(0, 7)
    progress.reached_end(0, 9)  # 9 holds a commit marker (read_committed)
    assert progress.cursor()[0] == 9 and not progress.done
    progress.reached_end(1, 50)  # never past the end seen at the start
    assert progress.done and progress.cursor() == {0: 9, 1: 4}


def test_idle_watch_measures_time_since_the_last_progress_not_the_start():
    watch = IdleWatch(timeout=30, last=0.0)
    for now in range(10, 1000, 10):  # a long read that keeps progressing
        watch.progressed(now)
        assert not watch.expired(now + 29)
    assert watch.expired(990 + 31)  # 1021 s after the start, but only 31 s idle


def test_batch_policy_closes_on_size_or_age():
    policy = BatchPolicy(size=3, seconds=2.0)
    assert not policy.full(0, 0.0, 100.0)  # an empty batch never closes
    assert not policy.full(2, 10.0, 11.0)
    assert policy.full(3, 10.0, 10.0)
    assert policy.full(1, 10.0, 12.0)


def test_group_offsets_spans_per_partition():
    assert group_offsets([(0, 5), (1, 3), (0, 2), (0, 9)]) == {0: (2, 9), 1: (3, 3)}
    assert group_offsets([]) == {}


def _entry(partition: int, offset: int) -> DlqEntry:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    letter = DeadLetter("wf", "t@1", "deliver", "HTTP 503", 3, Coordinates("in", 0, offset, 1), at)
    return DlqEntry(f"e{partition}-{offset}", letter, partition, offset, None, b"{}")


def test_replayed_among_finds_only_successful_replays_of_the_asked_positions(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)
    results = [(_entry(0, o), None) for o in range(0, 10)] + [(_entry(1, 4), "deliver: 503")]
    _remember(store, "wf", results)
    _remember(store, "other", [(_entry(0, 20), None)])
    asked = [(0, 3), (0, 4), (0, 12), (0, 20), (1, 4), (2, 0)]
    assert replayed_among(store, "wf", asked) == {(0, 3), (0, 4)}
    assert replayed_among(store, "wf", []) == set()


def test_replay_report_counts_every_failure_but_keeps_only_the_first_rows():
    report = ReplayReport("wf")
    for i in range(MAX_REPORTED_FAILURES + 5):
        report.add_failure({"event_id": str(i)})
    doc = report.as_dict()
    assert doc["failed"] == MAX_REPORTED_FAILURES + 5 and not doc["ok"]
    assert len(doc["failures"]) == MAX_REPORTED_FAILURES and doc["failures"][0]["event_id"] == "0"


def test_dlq_list_refuses_a_bad_cursor_before_reading_anything(tmp_path):
    # Kafka and the metadata DB would be unreachable here: exit 2 proves nothing was read.
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        "metadata_db:\n  url: postgresql://nobody@127.0.0.1:1/none\n"
    )
    proc = run_cli("dlq", "list", "wf", "--from", "0:12,x", config=cfg)
    assert_clean_error(proc, 2)
    assert "PARTITION:OFFSET" in proc.stderr
