"""pgBackRest backs up a real PostgreSQL metadata DB; its data directory is lost and restored.

A private cluster archives WAL with the lines `db backup setup` prints (archive_timeout 1 s).
Writes are acknowledged job-run rows. The cluster is killed and its data directory deleted;
a restore to the newest archived WAL measures the RPO (acknowledged rows lost), then a restore
to a time T between two batches holds exactly the rows committed before T.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from streamdr.cli.app import app
from streamdr.clock import utcnow
from streamdr.harness.local_postgres import LocalPostgres
from streamdr.runtime.ports import free_ports
from streamdr.serve.history import start_run
from streamdr.store.db import MetadataStore

RPO_GOAL_S = 5.0
RTO_GOAL_S = 60.0

pytestmark = pytest.mark.skipif(
    shutil.which("pgbackrest") is None,
    reason="pgbackrest is not installed (ensure-debian-packages)",
)


@pytest.fixture
def pg_root() -> Iterator[Path]:
    """A directory the postgres OS user can reach (pytest's tmp dirs are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="streamdr-pgbr-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        LocalPostgres(root / "data", 1).destroy()
        shutil.rmtree(root, ignore_errors=True)


def _cli(config: Path, *args: str) -> dict:
    started = time.monotonic()
    result = CliRunner().invoke(app, ["--config", str(config), *args, "--json"])
    assert result.exit_code == 0, f"{args}: {result.output}"
    print(f"  {' '.join(args[:3])}: {time.monotonic() - started:.1f}s")
    return json.loads(result.stdout)


def _write_settings(root: Path, port: int) -> Path:
    config = root / "streamdr.yaml"
    config.write_text(
        f"""\
sites:
  a:
    bootstrap_servers: localhost:1
metadata_db:
  url: postgresql+psycopg://postgres@127.0.0.1:{port}/streamdr
  pgbackrest:
    stanza: streamdr-test
    repo_path: {root}/repo
    pg_data: {root}/data
    pg_port: {port}
    pg_socket_dir: {root}/data
    retention_full: 1
    archive_timeout_seconds: 1
"""
    )
    return config


class Writer(threading.Thread):
    """Inserts one job-run row every 50 ms; remembers (id, acknowledged at) of each."""

    def __init__(self, store: MetadataStore) -> None:
        super().__init__(daemon=True)
        self.store, self.acked, self.stop = store, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            try:
                run_id, _ = start_run(self.store, "load", "heartbeat", "manual", "writer")
            except Exception:  # the cluster is killed under the writer: stop writing
                return
            self.acked.append((run_id, utcnow()))


def _ids(port: int) -> set[int]:
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=streamdr"
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM job_runs")}


def test_lost_data_directory_is_restored_latest_then_to_a_time(pg_root):
    port = free_ports(1)[0]
    pg = LocalPostgres(pg_root / "data", port).init()
    config = _write_settings(pg_root, port)
    lines = _cli(config, "db", "backup", "setup")["postgresql_conf"]
    with (pg.data_dir / "postgresql.conf").open("a") as fh:
        fh.write(lines)
    pg.start()
    pg.create_database("streamdr")
    store = MetadataStore(f"postgresql+psycopg://postgres@127.0.0.1:{port}/streamdr")
    store.engine  # noqa: B018 - creates the schema
    assert _cli(config, "db", "backup", "setup", "--execute")["check"] == "passed"
    assert _cli(config, "db", "backup", "run")["type"] == "full"

    before = {start_run(store, "a", "heartbeat", "manual", "t")[0] for _ in range(20)}
    time.sleep(0.5)
    to_time = utcnow()
    time.sleep(0.5)
    writer = Writer(store)
    writer.start()
    time.sleep(4)
    status = _cli(config, "db", "backup", "status")
    assert status["last_backup"]["label"] and status["wal_archived_up_to"], status
    assert status["archive_failures"] == 0, status

    pg.kill()  # the disk is lost: no clean shutdown, no last archive
    lost_at = utcnow()
    writer.stop.set()
    writer.join()
    store.engine.dispose()
    shutil.rmtree(pg.data_dir)

    latest = _cli(config, "db", "restore", "--target", str(pg.data_dir), "--execute")
    assert latest["integrity"]["passed"], latest
    print(f"  of which recovery (start to promoted): {latest['recovery_seconds']:.1f}s")
    restored = _ids(port)
    assert before <= restored
    acked = dict(writer.acked)
    kept = [acked[i] for i in restored if i in acked]
    newest_kept = max(kept) if kept else to_time
    rpo = (max(acked.values()) - newest_kept).total_seconds()
    lost = len(set(acked) - restored)
    rto = (utcnow() - lost_at).total_seconds()
    print(
        f"pgBackRest latest: RPO {rpo:.2f}s ({lost} of {len(acked)} acked rows lost), "
        f"RTO {rto:.1f}s"
    )
    assert rpo < RPO_GOAL_S and rto < RTO_GOAL_S

    at_t = _cli(
        config,
        "db",
        "restore",
        "--to-time",
        to_time.isoformat(),
        "--target",
        str(pg.data_dir),
        "--execute",
    )
    assert at_t["plan"]["set_aside"], at_t  # the latest restore is kept aside, not deleted
    assert _ids(port) == before
    _cli(config, "db", "validate")
    verify = _cli(config, "db", "backup", "verify")
    assert verify["passed"], verify
