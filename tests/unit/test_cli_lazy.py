"""The root group's static command table matches the real commands, and help stays light."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from streamdr.cli.app import COMMANDS, app
from streamdr.cli.lazy import LazyCommands

SRC = Path(__file__).resolve().parents[2] / "src"
# Stacks only some commands use; `--help` of the root and of light commands must not load them.
HEAVY = ("fastapi", "uvicorn", "sqlalchemy", "pyarrow", "httpx", "confluent_kafka", "psycopg")


def _first_paragraph(cmd: object) -> str:
    text = getattr(cmd, "short_help", None) or getattr(cmd, "help", None) or ""
    return inspect.cleandoc(text).split("\n\n")[0].strip()


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda e: e.name)
def test_table_entry_matches_the_real_command(entry) -> None:
    cmd = entry.load()
    assert cmd.name == entry.name
    assert cmd.rich_help_panel == entry.panel
    assert _first_paragraph(cmd) == entry.summary
    assert hasattr(cmd, "commands") == entry.group


def test_root_help_from_the_table_equals_help_with_every_command_loaded(monkeypatch) -> None:
    runner = CliRunner()
    lazy = runner.invoke(app, ["--help"], terminal_width=100).output
    root = get_command(app)
    for name in root.list_commands(None):
        root.commands[name]  # load every command: help now renders the real ones
    assert isinstance(root.commands, LazyCommands)
    assert all(root.commands.is_loaded(e.name) for e in COMMANDS)
    # The runner builds a fresh (lazy) group per call; hand it the fully loaded one instead.
    monkeypatch.setattr("typer.testing._get_command", lambda _app: root)
    loaded = runner.invoke(app, ["--help"], terminal_width=100).output
    assert lazy == loaded
    assert all(f" {e.name} " in loaded for e in COMMANDS)


def test_a_command_is_loaded_once_and_unknown_names_are_absent() -> None:
    root = get_command(app)
    assert root.commands["keys"] is root.commands["keys"]
    assert root.get_command(None, "no-such-command") is None
    assert "no-such-command" not in root.commands


def _modules_after(argv: list[str]) -> set[str]:
    """Return the top-level modules a fresh `streamdr ARGV` process had imported at exit."""
    code = (
        "import sys\n"
        "from streamdr.cli.app import main\n"
        f"sys.argv = ['streamdr', *{argv!r}]\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    return set(done.stderr.split())


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"], ["backup", "--help"]])
def test_help_imports_no_heavy_stack(argv: list[str]) -> None:
    loaded = _modules_after(argv)
    assert "typer" in loaded  # the probe did run the CLI
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
