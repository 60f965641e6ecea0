"""One confirmation convention: destructive commands print a plan unless --execute."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streamdr.cli.app import app
from streamdr.cli.options import PLAN_ONLY, print_plan_only, wants_execute
from streamdr.errors import InputError

# Every command that deletes, overwrites, moves offsets or traffic, or re-sends.
# (command path, the arguments it requires)
DESTRUCTIVE = {
    "restore": ("--topic", "t"),
    "backup apply-retention": (),
    "offsets restore": ("--snapshot", "s"),
    "offsets rewind": ("--group", "g", "--to-datetime", "2026-01-01T00:00:00Z"),
    "dlq replay": ("wf",),
    "rollback": ("wf", "--to-version", "1.0.0"),
    "config deploy": (),
    "config rollback": (),
    "config recover": (),
    "config restore-bundle": (),
    "topics ensure": (),
    "artifacts apply-retention": (),
    "failover": ("--to", "dr"),
    "failback": (),
    "cdc reset": ("src",),
}


def _run(path: str, *args: str, config: str = "no-such-settings.yaml"):
    return CliRunner().invoke(
        app, ["--config", config, *path.split(), *args], env={"COLUMNS": "200"}
    )


@pytest.mark.parametrize("path", DESTRUCTIVE)
def test_help_shows_execute_and_dry_run_but_not_the_old_yes(path):
    result = _run(path, "--help")
    assert result.exit_code == 0, result.output
    assert "--execute" in result.output and "--dry-run" in result.output
    assert "--yes" not in result.output


@pytest.mark.parametrize("path", DESTRUCTIVE)
def test_execute_with_dry_run_is_refused_before_anything_is_read(path, tmp_path):
    missing = str(tmp_path / "no-such-settings.yaml")
    result = _run(path, *DESTRUCTIVE[path], "--execute", "--dry-run", config=missing)
    assert isinstance(result.exception, InputError), result.output
    assert "--execute and --dry-run exclude each other" in result.exception.message


@pytest.mark.parametrize("path", DESTRUCTIVE)
def test_the_old_yes_is_still_accepted_as_execute(path, tmp_path):
    missing = str(tmp_path / "no-such-settings.yaml")
    result = _run(path, *DESTRUCTIVE[path], "-y", "--dry-run", config=missing)
    assert isinstance(result.exception, InputError), result.output
    assert "--execute and --dry-run exclude each other" in result.exception.message


def test_wants_execute_defaults_to_the_plan():
    assert wants_execute(False, False) is False
    assert wants_execute(False, True) is False
    assert wants_execute(True, False) is True


def test_yes_acts_and_warns_it_is_deprecated(capsys):
    assert wants_execute(False, False, yes=True) is True
    assert "--yes is deprecated" in capsys.readouterr().err
    with pytest.raises(InputError):
        wants_execute(True, True)


def test_plan_only_line_goes_to_stderr_under_json(capsys):
    print_plan_only(json_out=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == PLAN_ONLY
    print_plan_only()
    assert capsys.readouterr().out.strip() == PLAN_ONLY
