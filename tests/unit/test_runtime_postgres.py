"""Running PostgreSQL's binaries: where they are found, runuser, errors with hints."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from streamdr.errors import StateError, UnreachableError
from streamdr.runtime.postgres import (
    PgCluster,
    as_user,
    bin_candidates,
    find_pg_bin,
    give_to_user,
)


def _fake_pg_ctl(bin_dir: Path, body: str) -> str:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "pg_ctl"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir)


def test_as_user_wraps_in_runuser_only_when_a_user_is_named():
    assert as_user(None, ["pg_ctl", "status"]) == ["pg_ctl", "status"]
    assert as_user("postgres", ["pg_ctl"]) == ["runuser", "-u", "postgres", "--", "pg_ctl"]


def test_installed_versions_are_tried_newest_first_by_number_not_by_name():
    installed = [Path(f"/usr/lib/postgresql/{v}/bin") for v in ("9", "17", "16", "odd")]
    found = bin_candidates("pg_ctl", None, installed)
    assert [p.parent.parent.name for p in found] == ["17", "16", "9", "odd"]


def test_a_configured_bin_dir_is_the_only_place_looked_at():
    installed = [Path("/usr/lib/postgresql/17/bin")]
    assert bin_candidates("initdb", "/opt/pg/bin", installed) == [Path("/opt/pg/bin/initdb")]


def test_a_binary_missing_from_the_configured_dir_is_a_state_error_with_the_callers_hint(
    tmp_path,
):
    with pytest.raises(StateError, match="pg_ctl is not installed") as caught:
        find_pg_bin("pg_ctl", str(tmp_path), hint="set pg_bin_dir")
    assert caught.value.hint == "set pg_bin_dir"


def test_status_is_the_exit_code_of_pg_ctl(tmp_path):
    running = PgCluster(tmp_path, bin_dir=_fake_pg_ctl(tmp_path / "up", "exit 0"))
    stopped = PgCluster(tmp_path, bin_dir=_fake_pg_ctl(tmp_path / "down", "exit 3"))
    assert running.running() and not stopped.running()


def test_a_failed_start_names_the_log_and_pg_ctls_message(tmp_path):
    bin_dir = _fake_pg_ctl(tmp_path / "bin", "echo 'could not bind' >&2; exit 1")
    with pytest.raises(UnreachableError, match="could not bind") as caught:
        PgCluster(tmp_path, bin_dir=bin_dir).start(tmp_path / "pg.log", 5)
    assert str(tmp_path / "pg.log") in (caught.value.hint or "")


def test_a_pg_ctl_that_hangs_is_unreachable_after_the_timeout(tmp_path):
    cluster = PgCluster(tmp_path, bin_dir=_fake_pg_ctl(tmp_path / "bin", "sleep 5"))
    with pytest.raises(UnreachableError, match="did not finish") as caught:
        cluster.run("pg_ctl", "-D", str(tmp_path), "status", timeout=0.2)
    assert caught.value.hint


def test_stop_of_a_running_cluster_that_will_not_stop_is_a_state_error(tmp_path):
    # status answers "running", stop fails: the cluster must not be reported as stopped.
    body = 'case "$*" in *status*) exit 0;; *) echo "stop failed" >&2; exit 1;; esac'
    cluster = PgCluster(tmp_path, bin_dir=_fake_pg_ctl(tmp_path / "bin", body))
    with pytest.raises(StateError, match="stop failed") as caught:
        cluster.stop("fast")
    assert caught.value.hint


def test_stop_without_a_data_directory_runs_nothing_and_says_it_did_not_run(tmp_path):
    cluster = PgCluster(tmp_path / "absent", bin_dir=str(tmp_path / "no-bin"))
    assert cluster.stop() is False


def test_handing_a_path_to_no_user_changes_nothing_and_to_an_unknown_user_is_refused(tmp_path):
    before = tmp_path.stat()
    give_to_user(None, tmp_path, hint="unused")
    assert (tmp_path.stat().st_uid, tmp_path.stat().st_gid) == (before.st_uid, before.st_gid)
    with pytest.raises(StateError, match="no-such-user-x9") as caught:
        give_to_user("no-such-user-x9", tmp_path, hint="Name the cluster's user.")
    assert caught.value.hint == "Name the cluster's user."
