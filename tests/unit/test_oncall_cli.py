"""On-call CLI without a cluster: the runbooks' flags exist and bad input is one Error/Hint."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error
from tests.unit.test_replication_cli import write

REWIND = ("offsets", "rewind", "--group", "g", "--to-datetime", "2026-01-01T00:00:00Z")


@pytest.mark.parametrize("flag", ["--resume", "--resume-id", "--abandon", "--abandon-id"])
def test_failover_run_id_flags_and_their_short_aliases(tmp_path, flag):
    proc = run_cli("failover", flag, "3", config=write(tmp_path))
    assert_clean_error(proc, 2)
    assert "no failover run 3" in proc.stderr
    assert "failover --history" in proc.stderr  # the hint says where run ids are listed


def test_rewind_partitions_need_a_topic_and_must_be_numbers(tmp_path):
    cfg = write(tmp_path)
    proc = run_cli(*REWIND, "--partitions", "0", config=cfg)
    assert_clean_error(proc, 2)
    assert "--partitions needs --topic" in proc.stderr
    proc = run_cli(*REWIND, "--topic", "t", "--partitions", "x", config=cfg)
    assert_clean_error(proc, 2)
    assert "must be numbers like 0,3" in proc.stderr


@pytest.mark.parametrize(
    "command", [REWIND, ("config", "recover")], ids=["offsets rewind", "config recover"]
)
def test_dry_run_is_accepted_and_excludes_execute(tmp_path, command):
    proc = run_cli(*command, "--execute", "--dry-run", config=write(tmp_path))
    assert_clean_error(proc, 2)
    assert "--execute and --dry-run exclude each other" in proc.stderr
