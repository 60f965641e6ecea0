"""Benchmark: a backup scaled out over 1 and 2 `backup run --continuous --scale-out` processes.

Fills a 6-partition topic (N records of 500 bytes), then backs it up from scratch twice into
fresh prefixes: once with one process, once with two processes that share the partitions
through the consumer group. Each run's time goes from starting the processes until the catalog
covers every record (process start-up, group join and the rebalance included: what an operator
waits for), and its CPU seconds are the processes' user+system time from /proc. Prints one
JSON line (records/s, CPU seconds, the speed-up ratio) and rewrites the `backup_scale` section
of docs/benchmarks.md. On a machine whose cores also run the brokers the backup is CPU-bound:
a second process only helps when a core is idle. Not part of `make test`.

    python -m bench.backup_scale [--config streamdr.yaml] [--records N]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench._common import cpu_seconds
from bench.report import emit
from streamdr.backup.store import BackupStore
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_producer
from streamdr.objectstore.store import open_store
from streamdr.settings import load_settings
from streamdr.settings.model import Settings

PARTITIONS = 6
FLUSH_S = 2.0  # --flush-interval of the measured processes


def fill_topic(settings: Settings, topic: str, records: int, size: int) -> None:
    """Create ``topic`` and produce ``records`` records of ``size`` bytes round-robin."""
    name, site = settings.site()
    admin = KafkaAdmin(name, site)
    rf = min(3, len(admin.metadata().brokers))
    admin.create_topics([TopicSpec(topic, PARTITIONS, rf, {})])
    admin.wait_until(lambda md: topic in md.topics, timeout=60, what=f"topic {topic}")
    producer = make_producer(site, **{"linger.ms": 20, "batch.size": 1 << 20})
    value = b"v" * size
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value, b"k%d" % i, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(300) == 0


def backed_up(store: BackupStore, topic: str) -> int:
    """Return the records the catalog covers (0 while it is empty)."""
    return sum(e.records for e in store.manifests(topic)) if store.entry_keys(topic) else 0


def run_backup(args: argparse.Namespace, settings: Settings, topic: str, procs: int) -> dict:
    """Back ``topic`` up with ``procs`` scaled-out processes; return time, rate and CPU."""
    prefix = f"bench/scale-{procs}-{uuid.uuid4().hex[:8]}"
    store = BackupStore(open_store(settings, "local"), prefix)
    cmd = [sys.executable, "-m", "streamdr", "backup", "run", "--continuous", "--scale-out"]
    cmd += ["--topics", topic.replace(".", r"\."), "--prefix", prefix, "--json"]
    # Files roll after FLUSH_S at the latest: with the default interval the catalog only covers
    # the last records when that timer fires, and the run would time the timer, not the backup.
    cmd += ["--flush-interval", str(FLUSH_S)]
    env = {**os.environ, **({"STREAMDR_CONFIG": args.config} if args.config else {})}
    started = time.perf_counter()
    children = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(procs)
    ]
    try:
        while backed_up(store, topic) < args.records:
            for child in children:
                if child.poll() is not None:
                    raise SystemExit(f"a backup process ended: {child.stderr.read().decode()}")
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        cpu = sum(cpu_seconds(c.pid) for c in children)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(120)
    return {
        "processes": procs,
        "seconds": round(seconds, 2),
        "records_per_s": round(args.records / seconds),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_1m_records": round(cpu * 1e6 / args.records, 1),
    }


def main() -> None:
    """Run the benchmark and report it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    settings = load_settings(Path(args.config) if args.config else None)
    topic = f"bench.scale.{uuid.uuid4().hex[:8]}"
    fill_topic(settings, topic, args.records, args.size)
    one = run_backup(args, settings, topic, 1)
    two = run_backup(args, settings, topic, 2)
    result: dict[str, Any] = {
        "records": args.records,
        "record_bytes": args.size,
        "partitions": PARTITIONS,
        "one_process": one,
        "two_processes": two,
        "speedup": round(one["seconds"] / two["seconds"], 2),
    }
    emit("backup_scale", result, _markdown(result))


def _markdown(r: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {x['processes']} | {x['seconds']} | {x['records_per_s']:,} | {x['cpu_seconds']} | "
        f"{x['cpu_seconds_per_1m_records']} |"
        for x in (r["one_process"], r["two_processes"])
    )
    return f"""## Backup scale-out (`python -m bench.backup_scale`)

{r["records"]:,} records of {r["record_bytes"]} bytes over {r["partitions"]} partitions, backed
up from scratch by 1, then 2 `backup run --continuous --scale-out` processes (time from start to
every record cataloged: start-up, group join and rebalance included).

| processes | seconds | records/s | CPU s | CPU s per 1M records |
|---|---|---|---|---|
{rows}

Speed-up with 2 processes: **{r["speedup"]}x**. The processes roll a file every
{FLUSH_S:g} s at the latest (`--flush-interval`), so the time is the backup's, not a timer's.
The backup processes kept {busy(r["one_process"])} (1 process) and {busy(r["two_processes"])}
(2 processes) of one CPU busy; the six lab brokers share the machine's {os.cpu_count()} CPUs with
them, so what is left for a second process bounds the speed-up here. CPU seconds per record show
the cost of the group protocol and the leases (the second run's extra CPU)."""


def busy(run: dict[str, Any]) -> str:
    """Return the share of one CPU the run's processes used, as a percentage."""
    return f"{100 * run['cpu_seconds'] / max(run['seconds'], 1e-9):.0f} %"


if __name__ == "__main__":
    main()
