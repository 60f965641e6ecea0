"""Values from files, stores and arguments are printed literally, never read as rich markup.

``[/x]`` closes a tag that was never opened (rich raises MarkupError); ``[bold]`` would vanish
into styling. Both must reach the terminal as typed.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_cli

HOSTILE = "a[bold]b[/x]c"


@pytest.fixture
def settings(tmp_path):
    """Return a settings file with one site (never contacted) and a local backup store."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n"
        f"stores:\n  local:\n    url: {tmp_path / 'backups'}\n"
    )
    return cfg


def _assert_literal(proc, text):
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr and "MarkupError" not in proc.stderr
    assert text in proc.stdout


def test_key_paths_are_printed_literally(tmp_path):
    out = tmp_path / HOSTILE
    proc = run_cli("keys", "generate", "--out", str(out))
    _assert_literal(proc, f"{out}.key")


def test_schema_output_path_is_printed_literally(tmp_path):
    out = tmp_path / f"{HOSTILE}.json"
    out.parent.mkdir()  # "a[bold]b[" — the slash of [/x] is a directory separator
    proc = run_cli("workflows", "schema", "--output", str(out))
    _assert_literal(proc, f"Wrote {out}")
    assert out.exists()


def test_backup_prefix_is_printed_literally(settings):
    proc = run_cli("backup", "list", "--prefix", f"kafka/{HOSTILE}", config=settings)
    _assert_literal(proc, f"local:kafka/{HOSTILE}")
