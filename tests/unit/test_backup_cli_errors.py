"""Hostile or damaged backups at the CLI: one Error line, one Hint line, the right exit code."""

import json

import pytest

from streamdr.backup.layout import format_snapshot_id
from streamdr.backup.model import ManifestEntry, TopicInfo, TopicsSnapshot
from streamdr.backup.records import ColumnBuffer
from streamdr.backup.store import BackupStore
from streamdr.clock import utcnow
from streamdr.objectstore.store import ObjectStore
from streamdr.settings.model import StoreSettings
from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error

PREFIX = "kafka/primary"


@pytest.fixture
def setup(tmp_path):
    """Return (settings file, backup store) for a site that is never contacted."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n"
        f"stores:\n  local:\n    url: {tmp_path / 'backups'}\n"
    )
    objects = ObjectStore("local", StoreSettings(url=str(tmp_path / "backups")))
    return cfg, BackupStore(objects, PREFIX)


def write(store, first, n, ts0=1_500_000_000_000):
    buf = ColumnBuffer("orders", 0)
    for i in range(n):
        buf.offsets.append(first + i)
        buf.timestamps.append(ts0 + i)
        buf.ts_types.append(1)
        buf.keys.append(None)
        buf.values.append(b"v")
        buf.headers.append(None)
    entry = ManifestEntry("orders", 0, first, first + n, n, first, first + n - 1, ts0, ts0 + n - 1)
    return store.write_segment(buf.to_table(), entry)


def test_retention_refuses_a_catalog_whose_key_leaves_the_store(setup, tmp_path):
    cfg, store = setup
    victim = tmp_path / "victims" / "precious.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"keep me")
    e = write(store, 0, 10)
    hostile = {**e.as_dict(), "key": "../../../victims/precious.txt"}
    store.objects.put_bytes(store.entry_key(e), json.dumps(hostile).encode())
    proc = run_cli(
        "backup", "apply-retention", "--now", "2099-01-01T00:00:00Z", "--execute", config=cfg
    )
    assert_clean_error(proc, 2)
    assert store.entry_key(e) in proc.stderr and "victims/precious.txt" in proc.stderr
    assert victim.read_bytes() == b"keep me"
    assert store.objects.exists(e.key)


def test_restore_of_a_topic_name_that_is_a_path(setup):
    cfg, _ = setup
    for option in ("--topic", "--to-topic"):
        args = ["--topic", "orders"] if option == "--to-topic" else []
        proc = run_cli("restore", *args, option, "../../etc", "--dry-run", config=cfg)
        assert_clean_error(proc, 2)
        assert "not a valid Kafka topic name" in proc.stderr


def test_restore_with_a_snapshot_missing_fields(setup):
    cfg, store = setup
    write(store, 0, 10)
    at = utcnow()
    snap = TopicsSnapshot(format_snapshot_id(at), "primary", at, {"o": TopicInfo("o", 1, 1, {})})
    key = store.put_snapshot(snap)
    doc = snap.as_dict()
    del doc["topics"]["o"]["partitions"]
    store.objects.put_bytes(key, json.dumps(doc).encode())
    proc = run_cli("restore", "--topic", "orders", "--dry-run", config=cfg)
    assert_clean_error(proc, 2)
    assert key in proc.stderr and "partitions" in proc.stderr


def test_restore_with_a_deeply_nested_catalog(setup):
    cfg, store = setup
    e = write(store, 0, 10)
    store.objects.put_bytes(store.entry_key(e), b"[" * 100_000 + b"]" * 100_000)
    proc = run_cli("restore", "--topic", "orders", "--dry-run", config=cfg)
    assert_clean_error(proc, 2)
    assert "recursion limit" in proc.stderr


def test_verify_fails_when_the_last_entry_and_its_file_are_deleted(setup):
    cfg, store = setup
    write(store, 0, 10)
    last = write(store, 10, 10)
    assert run_cli("backup", "verify", config=cfg).returncode == 0
    store.objects.delete(store.entry_key(last))
    store.objects.delete(last.key)
    proc = run_cli("backup", "verify", config=cfg)
    assert_clean_error(proc, 1)
    assert "missing-tail" in proc.stdout and "offsets 10-19" in proc.stdout
