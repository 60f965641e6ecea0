"""What a failed drill leaves in its log directory: the failed step, the error and its hint.

A drill that fails while setting up has started no process yet, so its kept log directory would
be empty; this note is what the operator reads first (``FAILURE.txt``, and ``failure.json``
for tools).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from streamdr.clock import iso
from streamdr.drills.report import DrillReport
from streamdr.errors import StreamdrError
from streamdr.fsutil import atomic_write_text, ensure_dir, write_json_atomic
from streamdr.steps import Step

NOTE_TEXT = "FAILURE.txt"
NOTE_JSON = "failure.json"


def failed_step(report: DrillReport) -> Step | None:
    """Return the last failed step, else the last step begun (it may not have ended), else None."""
    failed = [s for s in report.steps if not s.ok]
    if failed:
        return failed[-1]
    return report.steps[-1] if report.steps else None


def describe_failure(error: BaseException | None) -> dict[str, Any] | None:
    """Return the error's kind, message and hint (None when there was no error)."""
    if error is None:
        return None
    if isinstance(error, StreamdrError):
        return {"kind": type(error).__name__, "message": error.message, "hint": error.hint}
    return {"kind": type(error).__name__, "message": str(error), "hint": None}


def aborted_line(error: StreamdrError) -> str:
    """Return the report's failure line of a drill an error aborted, with the error's hint."""
    hint = f" (hint: {error.hint})" if error.hint else ""
    return f"aborted: {error.message}{hint}"


def failure_note(report: DrillReport, error: BaseException | None, now: datetime) -> dict[str, Any]:
    """Return the note of a failed drill: when, which step, the error with its hint, failures.

    Without ``error`` (a drill that closed its rig in a ``finally``), the error the failed step
    raised stands in, so its hint is not lost.
    """
    step = failed_step(report)
    if error is None and step is not None and not step.ok:
        error = report.step_error
    return {
        "scenario": report.scenario,
        "site": report.site,
        "written_at": iso(now),
        "started_at": iso(report.started_at),
        "failed_step": step.as_dict() if step else None,
        "error": describe_failure(error),
        "failures": list(report.failures),
        "steps": [s.as_dict() for s in report.steps],
    }


def render_note(note: dict[str, Any]) -> str:
    """Return the note as the few lines an operator reads."""
    step = note["failed_step"]
    error = note["error"]
    lines = [
        f"drill {note['scenario']} on site {note['site']} failed (written {note['written_at']})",
        f"failed step: {step['name']!r}, started {step['started_at']}, "
        f"ended {step['finished_at'] or 'never'}"
        if step
        else "failed step: none had begun",
    ]
    if step and step["detail"]:
        lines.append(f"step detail: {step['detail']}")
    if error:
        lines.append(f"error: {error['kind']}: {error['message']}")
        lines.append(f"hint: {error['hint'] or '(none given)'}")
    lines += [f"failure: {f}" for f in note["failures"]]
    return "\n".join(lines) + "\n"


def write_failure_note(
    directory: Path, report: DrillReport, error: BaseException | None, now: datetime
) -> Path:
    """Write FAILURE.txt and failure.json into ``directory`` (created); return the text note.

    Raises InputError when the directory cannot be created, OSError when a file cannot be
    written.
    """
    ensure_dir(directory)
    note = failure_note(report, error, now)
    write_json_atomic(directory / NOTE_JSON, note)
    atomic_write_text(directory / NOTE_TEXT, render_note(note))
    return directory / NOTE_TEXT
