"""A failed drill's note in its kept log directory: the step, the time, the error and its hint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamdr.drills import pipeline_rig
from streamdr.drills.failure_note import (
    NOTE_JSON,
    NOTE_TEXT,
    aborted_line,
    failed_step,
    failure_note,
    render_note,
    write_failure_note,
)
from streamdr.drills.report import DrillReport
from streamdr.errors import StateError
from streamdr.policy.tiers import Targets
from streamdr.steps import Step

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TARGETS = Targets(rpo=timedelta(0), rto=timedelta(minutes=2))
BROKEN = StateError("initdb failed: disk full", hint="Free space in /tmp.")


def _failed_report() -> DrillReport:
    report = DrillReport("endpoint-outage", "primary", TARGETS)
    with report.step("check the site"):
        pass
    with pytest.raises(StateError), report.step("set up database"):
        raise BROKEN
    return report


def test_the_note_names_the_failed_step_its_times_the_error_and_the_hint():
    note = failure_note(_failed_report(), BROKEN, NOW)
    assert note["failed_step"]["name"] == "set up database"
    assert note["failed_step"]["ok"] is False and note["failed_step"]["finished_at"]
    assert note["error"] == {
        "kind": "StateError",
        "message": "initdb failed: disk full",
        "hint": "Free space in /tmp.",
    }
    assert note["written_at"] == "2026-03-01T12:00:00.000+00:00"
    text = render_note(note)
    assert "failed step: 'set up database'" in text
    assert "hint: Free space in /tmp." in text


def test_without_a_failed_step_the_step_still_running_is_named():
    report = DrillReport("endpoint-outage", "primary", TARGETS)
    report.steps.append(Step("set up database"))  # begun, never finished (interrupted)
    assert failed_step(report) is report.steps[0]
    assert "ended never" in render_note(failure_note(report, None, NOW))
    assert failed_step(DrillReport("x", None, TARGETS)) is None
    assert "none had begun" in render_note(failure_note(DrillReport("x", None, TARGETS), None, NOW))


def test_an_error_that_is_not_a_streamdr_error_has_no_hint_but_its_text():
    note = failure_note(_failed_report(), RuntimeError("boom"), NOW)
    assert note["error"] == {"kind": "RuntimeError", "message": "boom", "hint": None}
    assert "hint: (none given)" in render_note(note)


def test_the_note_is_written_as_text_and_json_into_a_new_directory(tmp_path):
    written = write_failure_note(tmp_path / "logs" / "run", _failed_report(), BROKEN, NOW)
    assert written.name == NOTE_TEXT and "initdb failed" in written.read_text()
    doc = json.loads((written.parent / NOTE_JSON).read_text())
    assert doc["error"]["hint"] == "Free space in /tmp."


class SetupFailsRig(pipeline_rig.PipelineRig):
    """A rig whose database server cannot be set up; nothing else exists to close."""

    def __init__(self, ctx: object, name: str) -> None:
        self.workflow_name = f"{name}-0001"
        self.cleanup_warnings: list[str] = []

    def setup(self, versions: tuple[str, ...] = (), sites: tuple[str, ...] = ()) -> None:
        raise BROKEN

    def close(self, *, keep_logs: bool = False) -> Path | None:
        return None  # no sandbox yet: no process logs to keep


def test_a_drill_failing_in_set_up_keeps_a_log_directory_that_says_what_failed(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(pipeline_rig, "PipelineRig", SetupFailsRig)
    monkeypatch.setattr(pipeline_rig, "LOG_ROOT", tmp_path)
    report = DrillReport("endpoint-outage", "primary", TARGETS)
    with pytest.raises(StateError):
        pipeline_rig.run_on_rig(object(), report, "drill-outage", lambda rig: None)  # type: ignore[arg-type]
    kept = Path(report.figures["logs"])
    assert kept == tmp_path / "drill-outage-0001"
    text = (kept / NOTE_TEXT).read_text()
    assert "set up database, signed transformation" in text
    assert "error: StateError: initdb failed: disk full" in text
    assert "hint: Free space in /tmp." in text


def test_an_aborted_drill_keeps_the_hint_in_its_stored_failures():
    assert aborted_line(BROKEN) == "aborted: initdb failed: disk full (hint: Free space in /tmp.)"
    assert aborted_line(StateError("no hint")) == "aborted: no hint"


def test_a_rig_closed_without_the_error_still_notes_the_failed_steps_hint(tmp_path, monkeypatch):
    """Chaos and site-failover close their rig in a ``finally`` without the error in hand."""
    monkeypatch.setattr(pipeline_rig, "LOG_ROOT", tmp_path)
    rig = SetupFailsRig(object(), "chaos")
    report = DrillReport("chaos", "primary", TARGETS)
    with pytest.raises(StateError):
        try:
            with report.step("MirrorMaker 2 replicates primary → dr"):
                raise StateError("MM2 flow is not replicating", hint="See mm2/dr/server.log.")
        finally:
            rig.close_for(report)
    assert report.steps[0].detail == "StateError: MM2 flow is not replicating"
    text = (tmp_path / "chaos-0001" / NOTE_TEXT).read_text()
    assert "error: StateError: MM2 flow is not replicating" in text
    assert "hint: See mm2/dr/server.log." in text


def test_a_drill_that_failed_its_judgement_notes_no_error_from_an_earlier_step():
    report = DrillReport("endpoint-outage", "primary", TARGETS)
    with pytest.raises(StateError), report.step("first try"):
        raise BROKEN
    report.steps[0].ok = True  # a retried step that passed in the end
    report.judge({"no events lost": False})
    note = failure_note(report, None, NOW)
    assert note["error"] is None
    assert note["failures"] == ["no events lost"]
