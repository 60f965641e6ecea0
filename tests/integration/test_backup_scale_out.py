"""Backups that scale out: two `--scale-out` processes share partitions; one is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import select

from streamdr.backup.store import BackupStore
from streamdr.kafka.admin import KafkaAdmin
from streamdr.objectstore.store import open_store
from streamdr.store.db import MetadataStore
from streamdr.store.schema import backup_leases
from tests.conftest import run_cli
from tests.integration.kafka_data import create_topic, produce

pytestmark = pytest.mark.lab

PARTITIONS = 6


def spawn_backup(lab, topic: str, prefix: str) -> subprocess.Popen:
    env = {**os.environ, "STREAMDR_CONFIG": str(lab.settings_file)}
    args = ["backup", "run", "--continuous", "--scale-out", "--session-timeout", "6", "--json"]
    args += ["--flush-interval", "0.5", "--max-file-records", "400"]
    args += ["--topics", topic.replace(".", r"\."), "--prefix", prefix]
    return subprocess.Popen(
        [sys.executable, "-m", "streamdr", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lease_owners(db: MetadataStore, prefix: str) -> dict[str, str]:
    """Return partition lease name → owning pid for the backup under ``prefix``."""
    with db.begin() as conn:
        rows = conn.execute(select(backup_leases)).all()
    return {r.name: r.owner.rpartition(":")[2] for r in rows if f":{prefix}#" in r.name}


def wait_for(what: str, ready: Callable[[], bool], procs: list[subprocess.Popen], timeout=90):
    deadline = time.monotonic() + timeout
    while not ready():
        for proc in procs:
            assert proc.poll() is None, f"a backup process ended: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_two_processes_share_partitions_and_a_killed_one_hands_over_without_gap(lab, lab_settings):
    topic = f"it.scale.{uuid.uuid4().hex[:8]}"
    prefix = f"it/scale-{uuid.uuid4().hex[:8]}"
    create_topic(lab_settings, topic, PARTITIONS)
    store = BackupStore(open_store(lab_settings, "local"), prefix)
    db = MetadataStore.from_settings(lab_settings)
    now = int(time.time() * 1000)
    payload = b"p" * 300

    stop_load = threading.Event()

    def load() -> None:  # steady traffic, so that a process is always mid-file
        n = 0
        while not stop_load.is_set():
            batch = [(i % PARTITIONS, (b"k%d" % (n + i), payload, None, now)) for i in range(600)]
            produce(lab_settings, topic, batch)
            n += len(batch)
            time.sleep(0.2)

    a = spawn_backup(lab, topic, prefix)
    b: subprocess.Popen | None = None
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        wait_for("A to own every partition", lambda: len(lease_owners(db, prefix)) == 6, [a])
        b = spawn_backup(lab, topic, prefix)
        pids = {str(a.pid), str(b.pid)}
        wait_for(
            "the group to split the partitions between A and B",
            lambda: set(lease_owners(db, prefix).values()) == pids,
            [a, b],
        )
        owned_by_b = [n for n, pid in lease_owners(db, prefix).items() if pid == str(b.pid)]
        assert 0 < len(owned_by_b) < PARTITIONS
        entries_before_kill = len(store.entry_keys(topic))
        wait_for(
            "B to catalog files",
            lambda: len(store.entry_keys(topic)) > entries_before_kill + 4,
            [a, b],
        )
        b.send_signal(signal.SIGKILL)  # mid-file: records are always buffered under load
        b.wait(30)
        wait_for(
            "A to take B's partitions over",
            lambda: (
                set(lease_owners(db, prefix).values()) == {str(a.pid)}
                and len(lease_owners(db, prefix)) == PARTITIONS
            ),
            [a],
            timeout=60,
        )
    finally:
        stop_load.set()
        loader.join(60)
        if b is not None and b.poll() is None:
            b.kill()

    ends = KafkaAdmin("primary", lab_settings.site("primary")[1]).end_offsets(topic)

    def caught_up() -> bool:
        progress = {e.partition: e.end_offset for e in store.manifests(topic)}
        return all(progress.get(p, 0) >= end for p, end in ends.items())

    try:
        wait_for("A to back up everything", caught_up, [a], timeout=60)
    finally:
        a.send_signal(signal.SIGTERM)
        out, err = a.communicate(timeout=60)
    assert a.returncode == 0, err
    assert json.loads(out)["partitions"] == PARTITIONS

    verify = run_cli(
        "backup", "verify", "--deep", "--prefix", prefix, "--json", config=lab.settings_file
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["passed"]
    seen: Counter[tuple[int, int]] = Counter()
    for entry in store.manifests(topic):
        for batch in store.batches(entry, columns=["partition", "offset"]):
            parts, offs = batch.column("partition").to_pylist(), batch.column("offset").to_pylist()
            seen.update(zip(parts, offs, strict=True))
    assert max(seen.values()) == 1, "a record was backed up twice"
    assert set(seen) == {(p, o) for p, end in ends.items() for o in range(end)}

    # The scaled-out backup restores like any other, here 3 partitions at a time.
    args = ["restore", "--topic", topic, "--to-topic", topic + ".restored", "--prefix", prefix]
    restored = run_cli(*args, "--parallel", "3", "--execute", "--json", config=lab.settings_file)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    result = json.loads(restored.stdout)["result"]
    assert result["verified"] and result["records"] == sum(ends.values())
