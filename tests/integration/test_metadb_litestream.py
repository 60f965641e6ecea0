"""Litestream replicas of a real SQLite metadata DB (a local directory and S3 on moto).

Writes are acknowledged job-run rows; the DB file is destroyed together with Litestream (as a
lost disk would), restored from S3, and the acknowledged rows missing from the restore are the
RPO. A point-in-time restore from the directory replica holds exactly the rows before the time.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamdr.clock import utcnow
from streamdr.errors import StateError
from streamdr.harness.polling import poll_until
from streamdr.metadb.litestream import pick, prepare, sqlite_path
from streamdr.metadb.restore import execute_restore, plan_metadb_restore
from streamdr.metadb.status import replica_status, verify_replica
from streamdr.metadb.supervisor import LitestreamSupervisor
from streamdr.serve.history import start_run
from streamdr.settings import load_settings
from streamdr.store.db import MetadataStore

RPO_GOAL_S = 5.0
RTO_GOAL_S = 60.0


def _settings(tmp_path: Path, s3_server: str, bucket: str):
    path = tmp_path / "streamdr.yaml"
    path.write_text(
        f"""\
sites:
  a:
    bootstrap_servers: localhost:1
stores:
  offsite:
    url: s3://{bucket}/prod
    endpoint_override: {s3_server}
metadata_db:
  url: sqlite:///meta.db
  backup:
    replicas:
      - name: local
        path: replica
        sync_interval_seconds: 0.5
      - name: s3
        store: offsite
        sync_interval_seconds: 0.5
"""
    )
    return load_settings(path)


class Writer(threading.Thread):
    """Inserts one job-run row every 20 ms; remembers (id, acknowledged at) of each."""

    def __init__(self, store: MetadataStore) -> None:
        super().__init__(daemon=True)
        self.store, self.acked, self.stop = store, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            run_id, _ = start_run(self.store, "load", "heartbeat", "manual", "writer")
            self.acked.append((run_id, utcnow()))


def _ids(path: Path) -> set[int]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM job_runs")}
    finally:
        conn.close()


def test_lost_db_is_restored_from_s3_within_goals_and_pitr_is_exact(tmp_path, s3_server, s3_bucket):
    settings = _settings(tmp_path, s3_server, s3_bucket)
    store = MetadataStore.from_settings(settings)
    store.engine  # noqa: B018 — the schema exists before Litestream starts
    db = sqlite_path(store.url)
    replicas = prepare(settings, db)
    supervisor = LitestreamSupervisor(replicas).start()
    writer = Writer(store)
    writer.start()
    try:
        assert poll_until(lambda: len(writer.acked) > 100, 30)
        middle = utcnow().replace(microsecond=0) + timedelta(seconds=1)
        assert poll_until(lambda: utcnow() > middle + timedelta(seconds=2), 10)
        assert all(replica_status(r, db)["txid"] for r in replicas)

        # the disk is lost: Litestream dies with the file, mid-write
        for proc in supervisor.procs.values():
            proc.send_signal(signal.SIGKILL)
        writer.stop.set()
        writer.join()
        lost_at = writer.acked[-1][1]
    finally:
        supervisor.stop()
        store.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)

    s3 = pick(replicas, "s3")
    plan = plan_metadb_restore(db, s3, None, None, utcnow(), target_exists=False)
    result = execute_restore(settings, plan, s3)
    restored = _ids(db)
    missing = [(i, at) for i, at in writer.acked if i not in restored]
    last_restored_at = max(at for i, at in writer.acked if i in restored)
    rpo = (lost_at - last_restored_at).total_seconds() if missing else 0.0
    print(f"metadb restore from S3: RTO {result.seconds:.2f}s, RPO {rpo:.2f}s, "
          f"{len(missing)} of {len(writer.acked)} acknowledged writes lost")  # fmt: skip
    assert result.seconds < RTO_GOAL_S
    assert rpo < RPO_GOAL_S
    assert all(at >= last_restored_at for _, at in missing), "a hole, not a tail, was lost"
    assert any("running" in line for line in result.integrity.fixed)

    local = pick(replicas, "local")
    target = tmp_path / "pitr.db"
    plan = plan_metadb_restore(db, local, middle, target, utcnow(), target_exists=False)
    execute_restore(settings, plan, local)
    at_time = _ids(target)
    # Litestream's file times have whole seconds: a write within a second of T may go either way
    before = {i for i, at in writer.acked if at < middle - timedelta(seconds=1)}
    after = {i for i, at in writer.acked if at > middle + timedelta(seconds=1)}
    assert before <= at_time and not (after & at_time)
    assert verify_replica(settings, local, db)["passed"]


def test_restore_to_a_time_before_any_backup_is_refused_and_the_db_untouched(
    tmp_path, s3_server, s3_bucket
):
    settings = _settings(tmp_path, s3_server, s3_bucket)
    store = MetadataStore.from_settings(settings)
    start_run(store, "x", "heartbeat", "manual", "me")
    db = sqlite_path(store.url)
    local = pick(prepare(settings, db), "local")
    supervisor = LitestreamSupervisor([local]).start()
    try:
        assert poll_until(lambda: replica_status(local, db).get("txid") is not None, 20)
    finally:
        supervisor.stop()
    before = db.read_bytes()
    old = datetime(2020, 1, 1, tzinfo=UTC)
    plan = plan_metadb_restore(db, local, old, None, utcnow(), target_exists=True)
    with pytest.raises(StateError, match="litestream restore failed"):
        execute_restore(settings, plan, local)
    assert db.read_bytes() == before
    assert not plan.staging.exists()


def test_readiness_metadata_db_backup_age_follows_the_replica(tmp_path):
    """Real Litestream on a directory replica: empty → none found; shipping → now; stopped
    while the DB is written → the replica's newest file, which then ages."""
    from streamdr.dashboard.gather import metadata_db_backup

    path = tmp_path / "streamdr.yaml"
    path.write_text(
        "sites:\n  a:\n    bootstrap_servers: localhost:1\nmetadata_db:\n  url: sqlite:///meta.db\n"
        "  backup:\n    replicas:\n      - name: local\n        path: replica\n"
        "        sync_interval_seconds: 0.2\n"
    )
    settings = load_settings(path)
    store = MetadataStore.from_settings(settings)
    start_run(store, "load", "heartbeat", "manual", "writer")
    empty = metadata_db_backup(settings, store, utcnow())
    assert (empty.configured, empty.last_at, empty.detail) == (True, None, "local: empty")

    supervisor = LitestreamSupervisor(prepare(settings, sqlite_path(store.url))).start()
    try:

        def shipped():
            now = utcnow()
            return metadata_db_backup(settings, store, now).last_at == now

        assert poll_until(shipped, timeout=30, interval=0.5), "the replica never held the DB"
    finally:
        supervisor.stop()
    # Litestream's file times have whole seconds: a write in the same second counts as shipped.
    time.sleep(2)
    start_run(store, "load", "heartbeat", "manual", "writer")  # not shipped: replicate stopped
    later = utcnow() + timedelta(minutes=20)
    stale = metadata_db_backup(settings, store, later)
    assert stale.last_at is not None and stale.last_at < later - timedelta(minutes=19)
    assert "newest file" in stale.detail
