"""Crash-and-resume of backup and restore (SIGKILL mid-run), and the topic-restore drill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from streamdr.backup import layout
from streamdr.backup.records import ColumnBuffer, encode_parquet
from streamdr.backup.service import BackupOptions, BackupService
from streamdr.backup.store import BackupStore
from streamdr.backup.verify import verify_store
from streamdr.backup.writer import RollPolicy
from streamdr.errors import UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.objectstore.store import open_store
from streamdr.store.db import MetadataStore
from tests.conftest import run_cli
from tests.integration.kafka_data import create_topic, produce, read_topic, records_only

pytestmark = pytest.mark.lab

RECORDS = 120_000
PARTITIONS = 3


def spawn(lab, *args: str) -> subprocess.Popen:
    env = {**os.environ, "STREAMDR_CONFIG": str(lab.settings_file)}
    return subprocess.Popen(
        [sys.executable, "-m", "streamdr", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; fail if it ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"finished before the kill: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "never got far enough to be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


@pytest.fixture(scope="module")
def big_topic(lab, lab_settings):
    topic = f"it.crash.{uuid.uuid4().hex[:8]}"
    create_topic(lab_settings, topic, PARTITIONS)
    t0 = int(time.time() * 1000) - 60_000
    payload = bytes(range(256)) * 2
    recs = [
        (i % PARTITIONS, (f"k{i}".encode(), payload[: 300 + i % 200], [("n", str(i).encode())], t0))
        for i in range(RECORDS)
    ]
    return topic, produce(lab_settings, topic, recs)


def test_backup_killed_mid_run_resumes_without_gap_or_overlap(lab, lab_settings, big_topic):
    topic, original = big_topic
    prefix = f"it/crash-{uuid.uuid4().hex[:8]}"
    store = BackupStore(open_store(lab_settings, "local"), prefix)
    args = (
        "backup",
        "run",
        "--topics",
        topic.replace(".", r"\."),
        "--prefix",
        prefix,
        "--max-file-records",
        "1000",
    )
    proc = spawn(lab, *args)
    kill_when(proc, lambda: len(store.entry_keys()) >= 10)
    at_kill = len(store.entry_keys())
    assert at_kill < RECORDS // 1000, "the run was not interrupted"

    # Simulate the other crash window too: a data file written whose catalog entry never was.
    progress = max(e.end_offset for e in store.manifests() if e.partition == 0)
    buf = ColumnBuffer(topic, 0)
    buf.offsets, buf.timestamps, buf.ts_types = [progress], [1], [1]
    buf.keys, buf.values, buf.headers = [b"x"], [b"half-written"], [None]
    orphan = layout.format_segment_key(
        prefix, layout.SegmentKey(topic, 0, progress, progress + 7, 1970, 1, 1)
    )
    store.objects.put_bytes(orphan, encode_parquet(buf.to_table()))

    proc = run_cli(*args, "--json", config=lab.settings_file)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert f"local:{orphan}" in summary["removed_uncommitted_files"]
    assert verify_store(store, deep=True).passed

    seen: Counter[tuple[int, int]] = Counter()
    for entry in store.manifests(topic):
        for batch in store.batches(entry, columns=["partition", "offset"]):
            seen.update(
                zip(
                    batch.column("partition").to_pylist(),
                    batch.column("offset").to_pylist(),
                    strict=True,
                )
            )
    assert max(seen.values()) == 1, "a record was backed up twice"
    assert set(seen) == {(p, o) for p, recs in original.items() for o, _r in recs}


def test_restore_killed_mid_run_resumes_without_duplicates(lab, lab_settings, big_topic):
    topic, original = big_topic
    prefix = f"it/rcrash-{uuid.uuid4().hex[:8]}"
    proc = run_cli(
        "backup",
        "run",
        "--topics",
        topic.replace(".", r"\."),
        "--prefix",
        prefix,
        config=lab.settings_file,
    )
    assert proc.returncode == 0, proc.stderr
    target = topic + ".restored"
    site_name, site = lab_settings.site()
    admin = KafkaAdmin(site_name, site)

    def restored() -> int:
        if admin.topic(target) is None:
            return 0
        try:
            return sum(admin.end_offsets(target).values())
        except Exception:
            return 0

    args = ("restore", "--execute", "--topic", topic, "--to-topic", target, "--prefix", prefix)
    kill_when(spawn(lab, *args), lambda: restored() >= 20_000)
    at_kill = restored()
    assert 0 < at_kill < RECORDS, "the restore was not interrupted"

    proc = run_cli(*args, "--json", config=lab.settings_file)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["result"]
    assert result["resumed"] and result["verified"]
    assert result["skipped_already_restored"] >= at_kill
    assert result["produced"] + result["skipped_already_restored"] == RECORDS
    assert records_only(read_topic(lab_settings, target, PARTITIONS)) == records_only(original)


def test_topic_restore_drill_passes(lab):
    proc = run_cli("drill", "run", "topic-restore", "--json", config=lab.settings_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] is True and report["scenario"] == "topic-restore"
    assert report["exact"] is True and report["group_resumed_at_committed_record"] is True
    assert report["restore_verified"] is True
    assert report["restored"] + report["rpo_records_lost"] == report["acked_before_delete"]
    assert 0 < report["rto_seconds"] < report["targets"]["rto_seconds"]
    history = json.loads(
        run_cli(
            "drill", "history", "--scenario", "topic-restore", "--json", config=lab.settings_file
        ).stdout
    )
    assert history[0]["id"] == report["id"]


def test_continuous_backup_follows_new_records_and_stops_cleanly_on_sigterm(lab, lab_settings):
    topic = f"it.cont.{uuid.uuid4().hex[:8]}"
    prefix = f"it/cont-{uuid.uuid4().hex[:8]}"
    create_topic(lab_settings, topic, 2)
    now = int(time.time() * 1000)
    produce(lab_settings, topic, [(i % 2, (b"k", b"v%d" % i, None, now)) for i in range(100)])
    store = BackupStore(open_store(lab_settings, "local"), prefix)
    env = {**os.environ, "STREAMDR_CONFIG": str(lab.settings_file)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamdr",
            "backup",
            "run",
            "--continuous",
            "--json",
            "--flush-interval",
            "0.5",
            "--topics",
            topic.replace(".", r"\."),
            "--prefix",
            prefix,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def backed_up() -> int:
        return sum(e.records for e in store.manifests(topic)) if store.entry_keys() else 0

    try:
        deadline = time.monotonic() + 60
        while backed_up() < 100 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert backed_up() == 100
        produce(lab_settings, topic, [(i % 2, (None, b"w%d" % i, None, now)) for i in range(50)])
        while backed_up() < 150 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert backed_up() == 150  # each file is durable within the flush interval
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["records"] == 150 and len(summary["snapshots"]) >= 4
    assert verify_store(store, deep=True).passed


class FlakyStore(BackupStore):
    """A backup store whose object store "becomes unreachable" at the n-th data file."""

    def __init__(self, objects, prefix, fail_at):
        super().__init__(objects, prefix)
        self.fail_at, self.calls = fail_at, 0

    def write_segment(self, table, entry):
        self.calls += 1
        if self.calls >= self.fail_at:
            raise UnreachableError("store went away (simulated)", hint="rerun")
        return super().write_segment(table, entry)


def test_store_unreachable_mid_run_catalogs_nothing_after_and_rerun_completes(lab, lab_settings):
    topic = f"it.flaky.{uuid.uuid4().hex[:8]}"
    prefix = f"it/flaky-{uuid.uuid4().hex[:8]}"
    create_topic(lab_settings, topic, 2)
    now = int(time.time() * 1000)
    original = produce(
        lab_settings, topic, [(i % 2, (b"k%d" % i, b"v" * 100, None, now)) for i in range(6000)]
    )
    site_name, _ = lab_settings.site()
    options = BackupOptions(
        site_name, topics_regex=topic.replace(".", r"\."), roll=RollPolicy(max_records=500)
    )
    db = MetadataStore.from_settings(lab_settings)
    objects = open_store(lab_settings, "local")
    flaky = FlakyStore(objects, prefix, fail_at=4)
    with pytest.raises(UnreachableError):
        BackupService(lab_settings, db, [flaky], options).run()
    assert len(flaky.manifests(topic)) == 3  # what was durable before the failure, nothing after
    assert not [f for f in verify_store(flaky, deep=True).errors]

    summary = BackupService(lab_settings, db, [BackupStore(objects, prefix)], options).run()
    assert summary.records == 6000 - 3 * 500
    store = BackupStore(objects, prefix)
    assert verify_store(store, deep=True).passed
    seen = Counter(
        (p, o)
        for e in store.manifests(topic)
        for b in store.batches(e, columns=["partition", "offset"])
        for p, o in zip(
            b.column("partition").to_pylist(), b.column("offset").to_pylist(), strict=True
        )
    )
    assert max(seen.values()) == 1
    assert set(seen) == {(p, o) for p, recs in original.items() for o, _r in recs}
