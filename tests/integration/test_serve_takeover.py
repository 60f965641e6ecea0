"""Two real `streamdr serve` processes on one metadata DB: one leads, kill -9, takeover.

Run on SQLite and on PostgreSQL (a database of the session's local cluster). No Kafka: the job
is a heartbeat that works for a while, so a run is in flight when the leader is killed. Checks:
APScheduler's job store is a table of the metadata DB holding the job; only the leader runs
jobs, no two runs of the job overlap, the standby leads within the lease bound after the kill,
and the killed leader's in-flight run is marked failed.
"""

from __future__ import annotations

import signal
import time
import uuid
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from streamdr.harness.local_postgres import LocalPostgres
from streamdr.harness.polling import poll_until
from streamdr.harness.processes import ChildProcesses, probe, streamdr_command
from streamdr.runtime.ports import free_ports
from streamdr.serve.history import recent_runs
from streamdr.serve.scheduler import JOBSTORE_TABLE
from streamdr.settings import load_settings
from streamdr.store.db import MetadataStore

LEASE = 2.0
START = 120.0  # seconds a serve may take to import and start on a loaded CI host
SETTINGS = f"""\
sites:
  a:
    bootstrap_servers: localhost:1
metadata_db:
  url: {{url}}
schedule:
  lease_seconds: {LEASE}
  jobs:
    beat:
      kind: heartbeat
      every: 0.5
      seconds: 0.4
"""


def _role(port: int) -> str | None:
    return probe(port, "/health")[1].get("role")


def _runs(store: MetadataStore) -> list[dict]:
    return recent_runs(store, "beat", limit=1000)


@pytest.fixture(params=["sqlite", "postgresql"])
def metadb_url(request: pytest.FixtureRequest) -> str:
    """The metadata DB URL: a SQLite file, or a new database in the session's PostgreSQL."""
    if request.param == "sqlite":
        return "sqlite:///meta.db"
    pg: LocalPostgres = request.getfixturevalue("postgres")
    name = f"serve_{uuid.uuid4().hex[:8]}"
    pg.create_database(name)
    return f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/{name}"


def _stored_jobs(store: MetadataStore) -> list[str]:
    """Return the ids of the jobs in APScheduler's job store (a table of the metadata DB)."""
    if JOBSTORE_TABLE not in inspect(store.engine).get_table_names():
        return []
    with store.begin() as conn:
        return [r.id for r in conn.execute(select(text("id")).select_from(text(JOBSTORE_TABLE)))]


def test_a_standby_serve_takes_over_after_kill_9_and_no_run_overlaps(
    tmp_path: Path, metadb_url: str
):
    config = tmp_path / "streamdr.yaml"
    config.write_text(SETTINGS.replace("{url}", metadb_url))
    store = MetadataStore.from_settings(load_settings(config))
    assert store.engine.dialect.name == metadb_url.split(":")[0].split("+")[0]
    port_a, port_b = free_ports(2)
    children = ChildProcesses(tmp_path / "logs")
    try:
        children.spawn(
            "a", streamdr_command(config, ["serve", "--port", str(port_a), "--owner", "A"])
        )
        assert poll_until(lambda: _role(port_a) == "leader", START), "A never led"
        assert _stored_jobs(store) == ["beat"]
        children.spawn(
            "b", streamdr_command(config, ["serve", "--port", str(port_b), "--owner", "B"])
        )
        assert poll_until(lambda: _role(port_b) == "standby", START), "B never answered"
        assert poll_until(lambda: len(_runs(store)) >= 4, 20)
        assert {r["owner"] for r in _runs(store)} == {"A"}

        # kill -9 while a run is in flight, so it is left "running" by a dead owner
        assert poll_until(lambda: _runs(store)[0]["status"] == "running", 10, interval=0.05)
        children.stop(["a"], signal.SIGKILL)
        killed = time.monotonic()
        assert poll_until(lambda: _role(port_b) == "leader", 15, interval=0.1)
        takeover = time.monotonic() - killed
        # the lease expires LEASE after A's last renewal; B retries every LEASE/3
        assert takeover < LEASE + LEASE / 3 + 2.0, f"takeover took {takeover:.1f}s"

        assert poll_until(lambda: sum(r["owner"] == "B" for r in _runs(store)) >= 3, 15)
        assert poll_until(lambda: all(r["status"] != "running" for r in _runs(store)[3:]), 10)
        runs = list(reversed(_runs(store)))
        abandoned = [r for r in runs if r["owner"] == "A" and r["status"] == "failed"]
        assert len(abandoned) == 1 and abandoned[0]["error"].startswith("abandoned")
        done = [r for r in runs if r["status"] == "succeeded"]
        for before, after in pairwise(done):
            assert after["started_at"] >= before["finished_at"], (before, after)
        last_a = max(r["started_at"] for r in runs if r["owner"] == "A")
        first_b = min(r["started_at"] for r in runs if r["owner"] == "B")
        assert first_b > last_a

        _, text = probe(port_b, "/metrics")
        assert 'streamdr_serve_job_runs_total{job="beat",outcome="succeeded"}' in text["text"]
        assert "streamdr_serve_leader_ratio 1.0" in text["text"]
        children.stop(["b"], signal.SIGTERM, grace=15)
    finally:
        children.stop_all(grace=5)
