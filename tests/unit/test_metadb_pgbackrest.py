"""pgBackRest for a PostgreSQL metadata DB: settings, rendered config, restore plans, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from streamdr.cli.app import app
from streamdr.errors import InputError, StateError, UnreachableError
from streamdr.metadb.pg_pitr import _last_backup, plan_pg_restore, recovery_target
from streamdr.metadb.pgbackrest import (
    PgBackRest,
    archive_conf_lines,
    is_postgres,
    render_config,
    repo_for,
    run_pgbackrest,
)
from streamdr.settings import load_settings
from streamdr.settings.metadb_backup import PgBackRestSettings

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _settings(tmp_path: Path, pgbackrest: str, stores: str = ""):
    path = tmp_path / "streamdr.yaml"
    path.write_text(
        f"""\
sites:
  a:
    bootstrap_servers: localhost:1
{stores}
metadata_db:
  url: postgresql+psycopg://streamdr@db:5432/streamdr
  pgbackrest:
{pgbackrest}
"""
    )
    return load_settings(path)


S3_STORES = """\
stores:
  offsite:
    url: s3://bucket/prod
    endpoint_override: https://127.0.0.1:9000
    access_key_env: UT_KEY
    secret_key_env: UT_SECRET
  disk:
    url: file:///backups"""


def test_local_repo_config_names_the_stanza_repo_and_retention(tmp_path):
    settings = _settings(tmp_path, "    stanza: meta\n    repo_path: repo\n    pg_data: /pg")
    cfg = settings.metadata_db.pgbackrest
    repo = repo_for(settings, cfg)
    text = render_config(cfg, repo, tmp_path / "state")
    assert f"repo1-path={tmp_path / 'repo'}" in text
    assert "repo1-retention-full=2" in text
    assert "[meta]\npg1-path=/pg\npg1-port=5432\n" in text
    assert f"lock-path={tmp_path / 'state' / 'lock'}" in text


def test_s3_repo_takes_endpoint_from_the_store_and_keys_only_from_the_environment(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("UT_KEY", "AKIDSECRETVALUE")
    monkeypatch.setenv("UT_SECRET", "very-secret")
    body = "    store: offsite\n    state_dir: st\n    pg_data: /pg"
    settings = _settings(tmp_path, body, S3_STORES)
    repo = repo_for(settings, settings.metadata_db.pgbackrest)
    assert repo.options["repo1-s3-endpoint"] == "127.0.0.1"
    assert repo.options["repo1-storage-port"] == "9000"
    assert repo.options["repo1-s3-uri-style"] == "path"
    assert repo.options["repo1-storage-verify-tls"] == "n"
    assert repo.options["repo1-path"] == "/prod/metadb-pgbackrest"
    assert repo.env == {
        "PGBACKREST_REPO1_S3_KEY": "AKIDSECRETVALUE",
        "PGBACKREST_REPO1_S3_KEY_SECRET": "very-secret",
    }
    text = render_config(settings.metadata_db.pgbackrest, repo, tmp_path)
    assert "AKIDSECRETVALUE" not in text and "very-secret" not in text


def test_s3_repo_without_its_key_variable_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.delenv("UT_KEY", raising=False)
    body = "    store: offsite\n    state_dir: st\n    pg_data: /pg"
    settings = _settings(tmp_path, body, S3_STORES)
    with pytest.raises(InputError, match="UT_KEY"):
        repo_for(settings, settings.metadata_db.pgbackrest)


def test_a_file_store_cannot_hold_the_repository(tmp_path):
    body = "    store: disk\n    state_dir: st\n    pg_data: /pg"
    settings = _settings(tmp_path, body, S3_STORES)
    with pytest.raises(InputError, match="cannot hold a pgBackRest repository"):
        repo_for(settings, settings.metadata_db.pgbackrest)


@pytest.mark.parametrize(
    "fields",
    [
        {"stanza": "Bad Name", "repo_path": "r"},
        {"stanza": "a;b", "repo_path": "r"},
        {"repo_path": "r", "store": "offsite", "state_dir": "s"},
        {},
        {"store": "offsite"},  # a store repository needs a local state_dir
        {"repo_path": "r\narchive_command=evil"},
        {"repo_path": "r'; evil"},
    ],
)
def test_settings_refuse_bad_names_and_ambiguous_or_injected_values(fields):
    with pytest.raises(ValidationError):
        PgBackRestSettings(pg_data="/pg", **fields)


def test_archive_lines_run_pgbackrest_archive_push_with_the_config():
    cfg = PgBackRestSettings(
        stanza="meta", repo_path="/r", pg_data="/pg", archive_timeout_seconds=5
    )
    lines = archive_conf_lines(cfg, Path("/st/pgbackrest.conf"), "/usr/bin/pgbackrest")
    assert "archive_mode = on\n" in lines
    assert (
        "archive_command = '/usr/bin/pgbackrest --config=/st/pgbackrest.conf --stanza=meta "
        "archive-push %p'\n" in lines
    )
    assert "archive_timeout = 5\n" in lines


def _runtime(binary: str = "/bin/false", state: Path = Path("/st")) -> PgBackRest:
    cfg = PgBackRestSettings(stanza="meta", repo_path="/r", pg_data="/pg")
    from streamdr.metadb.pgbackrest import Repo

    return PgBackRest(cfg, state / "pgbackrest.conf", state, Repo({}, {}, "/r"), binary)


def test_restore_plan_to_a_time_promotes_and_sets_the_old_directory_aside():
    when = datetime(2026, 3, 1, 11, 30, 0, 250000, tzinfo=UTC)
    plan = plan_pg_restore(_runtime(), when, Path("/pg"), NOW, target_has_data=True)
    assert plan.restore_args == (
        "restore",
        "--pg1-path=/pg",
        "--type=time",
        "--target=2026-03-01 11:30:00.250000+00",
        "--target-action=promote",
    )
    assert plan.set_aside == Path("/pg.replaced-20260301T120000Z")
    steps = plan.as_dict()["steps"]
    assert steps[0].startswith("stop") and "move /pg aside" in steps[1]
    assert steps[-1].startswith("validate")


def test_restore_plan_without_a_time_replays_all_archived_wal_into_an_empty_target():
    plan = plan_pg_restore(_runtime(), None, Path("/new"), NOW, target_has_data=False)
    assert plan.restore_args == ("restore", "--pg1-path=/new", "--type=default")
    assert plan.set_aside is None
    assert plan.as_dict()["to_time"] == "latest archived WAL"


def test_recovery_target_is_utc_with_microseconds():
    from datetime import timedelta, timezone

    local = datetime(2026, 3, 1, 13, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    assert recovery_target(local) == "2026-03-01 11:00:00.000001+00"


def test_last_backup_reads_pgbackrest_info_json():
    doc = {
        "backup": [
            {"label": "old", "type": "full", "timestamp": {"start": 1, "stop": 2}},
            {
                "label": "20260301-120000F",
                "type": "full",
                "timestamp": {"start": 1772366400, "stop": 1772366410},
                "archive": {"start": "000000010000000000000003", "stop": "00000001000000000004"},
            },
        ]
    }
    last = _last_backup(doc)
    assert last["label"] == "20260301-120000F"
    assert last["finished_at"] == "2026-03-01T12:00:10.000+00:00"
    assert _last_backup({}) == {"label": None}


def _fake_pgbackrest(tmp_path: Path, body: str) -> str:
    script = tmp_path / "pgbackrest"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("body", "error", "text"),
    [
        (
            "echo 'ERROR: [101]: unable to connect to 10.0.0.1:443' >&2; exit 101",
            UnreachableError,
            "unable to connect",
        ),
        (
            "echo 'ERROR: [055]: stanza meta does not exist' >&2; exit 55",
            StateError,
            "does not exist",
        ),
    ],
)
def test_pgbackrest_failures_are_translated(tmp_path, body, error, text):
    rt = _runtime(_fake_pgbackrest(tmp_path, body), tmp_path)
    with pytest.raises(error, match=text) as caught:
        run_pgbackrest(rt, ["info"])
    assert caught.value.hint


def test_a_time_target_before_every_backup_says_to_pick_a_later_time(tmp_path):
    body = (
        'echo "ERROR: [075]: unable to find backup set with stop time less than '
        "'2026-12-02 03:22:45+00'\" >&2; exit 75"
    )
    rt = _runtime(_fake_pgbackrest(tmp_path, body), tmp_path)
    with pytest.raises(StateError, match="unable to find backup set") as caught:
        run_pgbackrest(rt, ["restore"])
    assert "--to-time" in caught.value.hint and "db backup status" in caught.value.hint


def test_pgbackrest_that_hangs_is_unreachable_after_the_timeout(tmp_path):
    rt = _runtime(_fake_pgbackrest(tmp_path, "sleep 5"), tmp_path)
    with pytest.raises(UnreachableError, match="did not finish"):
        run_pgbackrest(rt, ["check"], timeout=0.2)


def test_argv_has_no_secret_and_passes_it_in_the_environment(tmp_path):
    from streamdr.metadb.pgbackrest import Repo

    rt = PgBackRest(
        PgBackRestSettings(stanza="meta", repo_path="/r", pg_data="/pg"),
        tmp_path / "c.conf",
        tmp_path,
        Repo({}, {"PGBACKREST_REPO1_S3_KEY_SECRET": "s3cr3t"}, "s3://b/p"),
        "/usr/bin/pgbackrest",
    )
    assert not any("s3cr3t" in a for a in rt.argv("backup"))
    assert rt.env()["PGBACKREST_REPO1_S3_KEY_SECRET"] == "s3cr3t"


def test_is_postgres_tells_the_backends_apart():
    assert is_postgres("postgresql+psycopg://u@h/db")
    assert not is_postgres("sqlite:///x.db")


def test_backup_run_on_a_sqlite_metadata_db_is_refused_with_a_hint(tmp_path):
    config = tmp_path / "streamdr.yaml"
    config.write_text(
        "sites:\n  a:\n    bootstrap_servers: localhost:1\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n"
    )
    result = CliRunner().invoke(app, ["--config", str(config), "db", "backup", "run"])
    assert isinstance(result.exception, InputError)  # main() turns it into exit 2
    assert result.exception.exit_code == 2 and "Litestream" in (result.exception.hint or "")


def test_a_metadb_backup_job_needs_the_pgbackrest_section(tmp_path):
    from streamdr.serve.validate import schedule_problems

    config = tmp_path / "streamdr.yaml"
    config.write_text(
        "sites:\n  a:\n    bootstrap_servers: localhost:1\n"
        "schedule:\n  jobs:\n    pg:\n      kind: metadb-backup\n      every: 3600\n"
    )
    problems = schedule_problems(load_settings(config))
    assert problems == [
        (("schedule", "jobs", "pg", "kind"), "a metadb-backup job needs metadata_db.pgbackrest")
    ]


def test_scratch_restore_plan_replays_all_wal_beside_the_live_cluster_without_archiving():
    from streamdr.metadb.pg_scratch import plan_scratch_restore

    plan = plan_scratch_restore(_runtime(), Path("/tmp/scratch"), 6001)
    assert plan.restore_args == (
        "restore",
        "--pg1-path=/tmp/scratch/data",
        "--type=default",
        "--archive-mode=off",
    )
    assert "-p 6001" in plan.server_options and "-k /tmp/scratch" in plan.server_options
    assert "-c archive_mode=off" in plan.server_options
    assert plan.as_dict()["steps"][-1] == "stop the scratch cluster and remove /tmp/scratch"


@pytest.mark.parametrize(
    ("root", "port"),
    [(Path("/tmp/s"), 5432), (Path("/pg"), 6001), (Path("/pg/x"), 6001)],
)
def test_scratch_restore_refuses_the_live_clusters_port_or_directory(root, port):
    from streamdr.metadb.pg_scratch import plan_scratch_restore

    with pytest.raises(InputError, match="overlaps the live cluster"):
        plan_scratch_restore(_runtime(), root, port)


def test_scratch_url_points_the_live_url_at_loopback_and_keeps_the_rest():
    from streamdr.metadb.pg_scratch import scratch_url

    live = "postgresql+psycopg://u:secret@db.prod:5432/streamdr?host=/run/pg&sslmode=disable"
    assert scratch_url(live, 6001) == (
        "postgresql+psycopg://u:secret@127.0.0.1:6001/streamdr?sslmode=disable"
    )


def _marks(count: int = 11):
    from datetime import timedelta

    from streamdr.drills.metadata_db_restore_pg import Mark

    # one mark a second, each 1000 bytes of WAL further
    return [Mark(NOW + timedelta(seconds=i), 1000 * (i + 1)) for i in range(count)]


@pytest.mark.parametrize(
    ("archived", "restored_at", "problems", "passed", "rpo"),
    [
        (10_000, 9, [], True, 1.0),  # marks 0..9 archived at the loss, the last one not
        (10_000, 10, [], True, 1.0),  # the restore holds more (archived while it ran): fine
        (10_000, 8, [], False, 1.0),  # the restore lacks a mark the archive held: a hole
        (3_000, 9, [], False, 8.0),  # more lost than archive_timeout (1 s) + 5 s
        (None, 10, [], False, 10.0),  # archive position unknown / nothing archived
        (500, None, [], False, 10.0),  # no mark archived, none restored
        (11_000, 10, ["schema is missing x"], False, 0.0),
    ],
)
def test_pg_drill_judges_rpo_at_the_loss_the_restores_content_and_validation(
    archived, restored_at, problems, passed, rpo
):
    from datetime import timedelta

    from streamdr.drills.metadata_db_restore_pg import _judge, pg_targets
    from streamdr.drills.report import DrillReport

    report = DrillReport("metadata-db-restore", "a", pg_targets(1))
    restored = None if restored_at is None else NOW + timedelta(seconds=restored_at)
    _judge(report, problems, _marks(), archived, restored, 20.0)
    assert (report.passed, report.rpo_seconds, report.rto_seconds) == (passed, rpo, 20.0)
    assert all(f"validation: {p}" in report.failures for p in problems)


SEG = 16 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "end"),
    [
        ("000000010000000000000003", 4 * SEG),
        ("000000020000000100000000", (0x100 + 1) * SEG),  # segment 0 of log 1: 256 segs per log
        ("000000010000000000000003.partial", 3 * SEG),
        ("000000010000000000000003.00000028.backup", 3 * SEG),
        ("00000002.history", None),
        (None, None),
        ("", None),
    ],
)
def test_archived_end_counts_whole_segments_only(name, end):
    from streamdr.metadb.pg_scratch import archived_end

    assert archived_end(name, SEG) == end


def test_parse_lsn_reads_postgres_positions():
    from streamdr.metadb.pg_scratch import parse_lsn

    assert parse_lsn("0/3000060") == 0x3000060
    assert parse_lsn("1/0") == 1 << 32
    with pytest.raises(ValueError, match="not an LSN"):
        parse_lsn("0/zz")
