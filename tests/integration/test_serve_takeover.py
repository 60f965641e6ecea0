"""Two real `streamdr serve` processes on one SQLite metadata DB: one leads, kill -9, takeover.

No Kafka: the job is a heartbeat that works for a while, so a run is in flight when the leader
is killed. Checks: only the leader runs jobs, no two runs of the job overlap, the standby leads
within the lease bound after the kill, and the killed leader's in-flight run is marked failed.
"""

from __future__ import annotations

import signal
import time
from itertools import pairwise
from pathlib import Path

from streamdr.harness.polling import poll_until
from streamdr.harness.processes import ChildProcesses, probe, streamdr_command
from streamdr.runtime.ports import free_ports
from streamdr.serve.history import recent_runs
from streamdr.settings import load_settings
from streamdr.store.db import MetadataStore

LEASE = 2.0
START = 120.0  # seconds a serve may take to import and start on a loaded CI host
SETTINGS = f"""\
sites:
  a:
    bootstrap_servers: localhost:1
metadata_db:
  url: sqlite:///meta.db
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


def test_a_standby_serve_takes_over_after_kill_9_and_no_run_overlaps(tmp_path: Path):
    config = tmp_path / "streamdr.yaml"
    config.write_text(SETTINGS)
    store = MetadataStore.from_settings(load_settings(config))
    port_a, port_b = free_ports(2)
    children = ChildProcesses(tmp_path / "logs")
    try:
        children.spawn(
            "a", streamdr_command(config, ["serve", "--port", str(port_a), "--owner", "A"])
        )
        assert poll_until(lambda: _role(port_a) == "leader", START), "A never led"
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
