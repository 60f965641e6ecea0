"""The shared step recorder and time helpers (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from streamdr.clock import as_utc, datetime_to_ms, iso, iso_ms, ms_to_datetime, parse_time
from streamdr.errors import InputError
from streamdr.steps import Step, record_step


def test_record_step_times_the_block_and_reports_it_done():
    steps, seen = [], []
    with record_step(steps, "copy", seen.append) as st:
        st.detail = "3 files"
    assert steps == seen == [st]
    assert st.ok and st.detail == "3 files" and st.seconds is not None and st.seconds >= 0
    assert st.as_dict()["finished_at"] is not None


def test_a_failing_block_marks_the_step_failed_and_propagates():
    steps, seen = [], []
    with pytest.raises(ValueError), record_step(steps, "bad", seen.append):
        raise ValueError("boom")
    assert not steps[0].ok and steps[0].detail == "ValueError: boom" and seen == steps
    with pytest.raises(ValueError), record_step(steps, "kept", describe=str) as st:
        st.detail = "half done"
        raise ValueError("boom")
    assert steps[1].detail == "half done"


def test_record_step_builds_the_callers_own_step_kind():
    class Numbered(Step):
        pass

    steps = []
    with record_step(steps, "x", start=lambda n: Numbered(n)) as st:
        pass
    assert isinstance(st, Numbered) and steps == [st]


def test_iso_takes_a_naive_time_as_utc_and_keeps_milliseconds():
    naive = datetime(2026, 1, 2, 3, 4, 5, 678901)
    assert iso(naive) == "2026-01-02T03:04:05.678+00:00"
    assert iso(None) is None
    assert as_utc(naive).tzinfo is UTC


def test_milliseconds_round_trip_exactly():
    ts = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert ms_to_datetime(datetime_to_ms(ts)) == ts
    assert iso_ms(datetime_to_ms(ts)) == "2026-01-02T03:04:05.678+00:00"
    assert iso_ms(None) is None


def test_parse_time_accepts_z_and_offsets_and_names_the_option():
    assert parse_time("2026-01-02T03:04:05Z", "--at") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    shifted = parse_time("2026-01-02T05:04:05+02:00", "--at")
    assert shifted == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2026-01-02", "--at").tzinfo is UTC
    with pytest.raises(InputError, match="--at 'yesterday' is not an ISO 8601 time"):
        parse_time("yesterday", "--at")
    assert timedelta(0) == shifted.utcoffset()
