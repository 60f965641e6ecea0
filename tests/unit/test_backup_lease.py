"""The backup writer lease in the metadata DB (one writer per store and prefix)."""

import subprocess
import sys
from datetime import timedelta

import pytest

from streamdr.backup.history import LEASE_TTL, Lease, finish_run, recent_runs, start_run
from streamdr.clock import utcnow
from streamdr.errors import StateError
from streamdr.store.db import MetadataStore


@pytest.fixture
def db(tmp_path):
    return MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")


def test_second_live_writer_is_refused_until_release(db):
    a = Lease(db, "local:kafka/primary", owner="other-host:1")
    b = Lease(db, "local:kafka/primary", owner="other-host:2")
    a.acquire()
    with pytest.raises(StateError, match="other-host:1"):
        b.acquire()
    a.release()
    b.acquire()


def test_expired_lease_is_taken_over(db):
    now = utcnow()
    Lease(db, "n", owner="far-away:7").acquire(now - LEASE_TTL - timedelta(seconds=1))
    Lease(db, "n", owner="far-away:8").acquire(now)


def test_lease_of_a_dead_local_process_is_taken_over_at_once(db):
    import socket

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    Lease(db, "n", owner=f"{socket.gethostname()}:{dead.stdout.strip()}").acquire()
    Lease(db, "n").acquire()


def test_runs_are_recorded(db):
    run_id = start_run(db, "primary", "local", "kafka/primary")
    finish_run(db, run_id, "ok", {"records": 5})
    (row,) = recent_runs(db)
    assert row["status"] == "ok" and row["summary"] == {"records": 5}
