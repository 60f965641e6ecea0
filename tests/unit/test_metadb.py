"""The metadata DB's own DR without Litestream running: configs, restore plans, integrity."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from streamdr.dashboard.gather import metadata_db_backup
from streamdr.errors import FailedCheckError, InputError
from streamdr.metadb.integrity import validate_metadata_db
from streamdr.metadb.litestream import (
    ReplicaRuntime,
    litestream_binary,
    litestream_config,
    replica_place,
    sqlite_path,
)
from streamdr.metadb.restore import plan_metadb_restore, restore_args
from streamdr.metadb.status import last_write_at, replica_current_at
from streamdr.serve.history import start_run
from streamdr.settings import load_settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import drill_runs
from streamdr.workflows.deployments import record_deployment
from streamdr.yamldoc import DocumentError

SETTINGS = """\
sites:
  a:
    bootstrap_servers: localhost:1
stores:
  offsite:
    url: s3://dr-bucket/prod
    endpoint_override: http://127.0.0.1:9000
    region: eu-west-1
    access_key_env: K_AK
    secret_key_env: K_SK
  webdav:
    url: gs://elsewhere/x
metadata_db:
  url: sqlite:///meta.db
  backup:
    replicas:
      - name: local
        path: replica
      - name: s3
        store: offsite
        sync_interval_seconds: 0.5
"""


def _settings(tmp_path: Path, text: str = SETTINGS):
    path = tmp_path / "streamdr.yaml"
    path.write_text(text)
    return load_settings(path)


def test_litestream_binary_comes_with_the_python_package():
    assert litestream_binary().name == "litestream"


def test_replicas_become_litestream_blocks_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("K_AK", "access")
    monkeypatch.setenv("K_SK", "secret")
    settings = _settings(tmp_path)
    local, s3 = (replica_place(settings, r) for r in settings.metadata_db.backup.replicas)
    assert local.block == {
        "type": "file",
        "path": str(tmp_path / "replica"),
        "sync-interval": "1000ms",
    }
    assert s3.block == {
        "type": "s3",
        "bucket": "dr-bucket",
        "path": "prod/metadb/s3",
        "region": "eu-west-1",
        "endpoint": "http://127.0.0.1:9000",
        "force-path-style": True,
        "sync-interval": "500ms",
    }
    assert s3.env == {"AWS_ACCESS_KEY_ID": "access", "AWS_SECRET_ACCESS_KEY": "secret"}
    config = litestream_config(
        tmp_path / "meta.db", tmp_path / "m", s3, settings.metadata_db.backup
    )
    assert "secret" not in repr(config)
    assert config["dbs"][0]["replica"] is s3.block
    assert config["snapshot"] == {"interval": "3600s", "retention": "604800s"}


def test_a_replica_on_an_unsupported_store_is_refused(tmp_path):
    text = SETTINGS.replace("store: offsite", "store: webdav")
    settings = _settings(tmp_path, text)
    with pytest.raises(InputError, match="cannot hold a Litestream replica"):
        replica_place(settings, settings.metadata_db.backup.replicas[1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("store: offsite", "store: nowhere"),
        ("      - name: s3\n", "      - name: local\n"),
        ("        path: replica\n", ""),
    ],
)
def test_bad_backup_settings_are_refused_at_load(tmp_path, change, message):
    with pytest.raises(DocumentError):
        _settings(tmp_path, SETTINGS.replace(change, message))


def test_only_a_sqlite_metadata_db_is_backed_up_by_litestream():
    assert sqlite_path("sqlite:////var/lib/streamdr/meta.db") == Path("/var/lib/streamdr/meta.db")
    with pytest.raises(InputError, match="SQLite"):
        sqlite_path("postgresql+psycopg://db/streamdr")


def test_a_restore_plan_stages_next_to_the_target_and_keeps_the_old_file(tmp_path):
    settings = _settings(tmp_path)
    place = replica_place(settings, settings.metadata_db.backup.replicas[0])
    runtime = ReplicaRuntime(place, tmp_path / "c.yml")
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    at = datetime(2026, 3, 1, 11, 30, 5, tzinfo=UTC)
    db = tmp_path / "meta.db"
    plan = plan_metadb_restore(db, runtime, at, None, now, target_exists=True)
    assert plan.target == db and plan.staging == tmp_path / "meta.db.restoring"
    assert plan.set_aside == tmp_path / "meta.db.replaced-20260301T120000Z"
    assert restore_args(plan, plan.staging, dry_run=True) == [
        "restore", "-json", "-o", str(plan.staging),
        "-timestamp", "2026-03-01T11:30:05Z", "-dry-run", str(db),
    ]  # fmt: skip
    other = plan_metadb_restore(db, runtime, None, tmp_path / "x.db", now, target_exists=False)
    assert other.set_aside is None and other.to_time is None
    assert "-timestamp" not in restore_args(other, other.staging, dry_run=False)


def _store(tmp_path: Path) -> MetadataStore:
    return MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")


def _deploy(store, commit, previous, at):
    record_deployment(
        store, commit=commit, branch="main", kind="deploy", deployed_by="t",
        previous_commit=previous, files={}, artifacts=[], at=at,
    )  # fmt: skip


def test_a_healthy_db_passes_and_abandoned_runs_are_marked_failed(tmp_path):
    settings = _settings(tmp_path)
    store = _store(tmp_path)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    _deploy(store, "a" * 40, None, t0)
    _deploy(store, "b" * 40, "a" * 40, t0 + timedelta(hours=1))
    run_id, _ = start_run(store, "beat", "heartbeat", "scheduled", "gone")
    report = validate_metadata_db(settings, store, fix=True)
    assert report.passed, report.problems
    assert any(str(run_id) in line for line in report.fixed)
    assert validate_metadata_db(settings, store, fix=True).fixed == []


def test_a_broken_deployment_chain_and_drill_history_are_problems(tmp_path):
    settings = _settings(tmp_path)
    store = _store(tmp_path)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    _deploy(store, "a" * 40, None, t0)
    _deploy(store, "b" * 40, "c" * 40, t0 - timedelta(hours=1))
    with store.begin() as conn:
        for started in (t0, t0 - timedelta(days=1)):
            conn.execute(
                insert(drill_runs).values(
                    scenario="x", started_at=started, finished_at=started - timedelta(seconds=1),
                    passed=True, report={},
                )
            )  # fmt: skip
    report = validate_metadata_db(settings, store, fix=False)
    text = "\n".join(report.problems)
    assert "follows cccccccccccc but deployment 1 deployed aaaaaaaaaaaa" in text
    assert "deployment 2 is dated before deployment 1" in text
    assert "drill run 1 finished before it started" in text
    assert "drill run 2 started before drill run 1" in text
    with pytest.raises(FailedCheckError, match="failed validation"):
        report.raise_for_problems("the restore")


def test_an_old_or_damaged_schema_is_a_problem(tmp_path):
    settings = _settings(tmp_path)
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE drill_runs (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    report = validate_metadata_db(settings, MetadataStore(f"sqlite:///{path}"), fix=False)
    assert not report.passed
    assert "schema is missing" in report.problems[0]
    assert "drill_runs.scenario" in report.problems[0]


OUTBOX_WORKFLOW = (
    "name: orders\nclient: c\ntier: standard\nsource:\n  database: shop\n  tables: [main.orders]\n"
    "transformation: {name: t, version: 1.0.0}\nsink: {url: 'http://x'}\n"
    "outbox: {table: outbox_events, stale_after_seconds: 60}\n"
)


def test_stale_pending_outbox_events_of_a_declared_outbox_are_a_problem(tmp_path):
    settings = _settings(
        tmp_path,
        SETTINGS
        + "sources:\n  shop:\n    kind: sqlite\n    path: shop.db\n    topic_prefix: shop\n",
    )
    shop = sqlite3.connect(tmp_path / "shop.db")
    shop.execute("CREATE TABLE outbox_events (id INTEGER, status TEXT, created_at TIMESTAMP)")
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [(1, "PENDING", now - timedelta(hours=2)), (2, "PENDING", now), (3, "SENT", now)]
    shop.executemany("INSERT INTO outbox_events VALUES (?, ?, ?)", rows)
    shop.commit()
    store = _store(tmp_path)
    record_deployment(
        store, commit="a" * 40, branch="main", kind="deploy", deployed_by="t",
        previous_commit=None, files={"workflows/c/orders.yaml": OUTBOX_WORKFLOW}, artifacts=[],
    )  # fmt: skip
    report = validate_metadata_db(settings, store, fix=False)
    assert "outbox of orders" in report.checked
    assert report.problems == [
        "workflow orders: 1 outbox events PENDING too long (incomplete transaction recovery?)"
    ]
    shop.execute("UPDATE outbox_events SET status = 'SENT'")
    shop.commit()
    assert validate_metadata_db(settings, store, fix=False).passed


def _cli(tmp_path: Path, text: str, *args: str):
    from typer.testing import CliRunner

    from streamdr.cli.app import app

    (tmp_path / "streamdr.yaml").write_text(text)
    return CliRunner().invoke(app, ["--config", str(tmp_path / "streamdr.yaml"), *args])


def test_db_validate_cli_passes_on_a_fresh_db_and_restore_needs_backup_settings(tmp_path):
    plain = (
        "sites:\n  a:\n    bootstrap_servers: localhost:1\nmetadata_db:\n  url: sqlite:///m.db\n"
    )
    result = _cli(tmp_path, plain, "db", "validate", "--json")
    assert result.exit_code == 0, result.output
    assert '"passed": true' in result.output
    result = _cli(tmp_path, plain, "db", "restore", "--dry-run")
    assert isinstance(result.exception, InputError)
    assert "metadata_db.backup is not configured" in str(result.exception)
    result = _cli(tmp_path, plain, "db", "restore", "--to-time", "yesterday")
    assert isinstance(result.exception, InputError)


# ----- how current a replica is (the readiness dashboard's metadata DB backup age) -------------
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _status(**changes) -> dict:
    return {"latest_file_at": "2026-06-01T12:00:00Z", "caught_up": True, **changes}


def test_a_caught_up_replica_with_no_later_write_is_current_now():
    now = T0 + timedelta(hours=2)  # an idle DB: no new file for hours, nothing unshipped
    written = T0 + timedelta(milliseconds=400)  # same second as the newest file
    assert replica_current_at(_status(), written, now) == now


def test_a_write_after_the_newest_file_leaves_the_replica_at_that_file():
    """A stopped `litestream replicate` still reports caught up: the DB's write time says not."""
    now, written = T0 + timedelta(minutes=30), T0 + timedelta(minutes=10)
    assert replica_current_at(_status(), written, now) == T0
    assert replica_current_at(_status(caught_up=False), T0, now) == T0


@pytest.mark.parametrize(
    "status",
    [
        {"latest_file_at": None, "caught_up": False},  # an empty replica
        _status(error="litestream ltx failed on replica s3: no such bucket"),
        _status(latest_file_at="yesterday"),  # hostile or garbled output
        _status(latest_file_at=5),
    ],
)
def test_an_empty_unreadable_or_garbled_replica_holds_nothing(status):
    assert replica_current_at(status, T0, T0) is None


def test_last_write_at_takes_the_newer_of_the_db_and_its_wal(tmp_path):
    db = tmp_path / "m.db"
    assert last_write_at(db) is None
    db.write_bytes(b"x")
    wal = tmp_path / "m.db-wal"
    wal.write_bytes(b"y")
    os.utime(db, (1_000_000, 1_000_000))
    os.utime(wal, (2_000_000, 2_000_000))
    assert last_write_at(db) == datetime.fromtimestamp(2_000_000, UTC)


def test_no_replica_configured_is_not_configured_rather_than_an_age(tmp_path):
    path = tmp_path / "streamdr.yaml"
    path.write_text("sites:\n  a:\n    bootstrap_servers: localhost:1\n")
    settings = load_settings(path)
    got = metadata_db_backup(settings, MetadataStore.from_settings(settings), T0)
    assert (got.configured, got.last_at, got.detail) == (False, None, "no replica configured")
