"""CDC stage: streamdr's reader against Debezium's PostgreSQL connector, same database and lab.

Both read the same table of one local PostgreSQL (pgoutput, each with its own slot and
publication) into a 3-partition RF-3 topic with ``message.timestamp.type=LogAppendTime``, so a
record's timestamp is when the broker appended it. Debezium 3.6 runs in Kafka Connect
standalone from the lab's own Kafka 4.1 jars, its jars in their own ``plugin.path`` directory
(scripts/fetch-debezium), JSON without schemas, ``snapshot.mode=no_data``,
``poll.interval.ms=50``. streamdr runs as `streamdr cdc run` (acks=all, idempotent, Kafka
checkpoint). One system at a time; per system:

1. start-up: spawn → a change committed once the slot is streamed is in Kafka;
2. batches: 100,000 inserts in 1,000-row transactions, committed back to back;
3. singles: 20,000 single-row transactions (autocommit), committed back to back.

changes/s = rows / (first commit → last append); latency = append time - the writer's commit
acknowledgement; CPU seconds of the CDC process and of its walsender (``/proc/<pid>/stat``)
over each workload; peak RSS (VmHWM) of the CDC process.

Usage: python -m bench.cdc [--lab-dir DIR] [--batch-rows N] [--singles N] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench._common import cpu_seconds
from bench.report import emit
from streamdr.harness.derived_settings import derive, write_settings
from streamdr.harness.local_postgres import LocalPostgres
from streamdr.harness.processes import streamdr_command
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_consumer
from streamdr.lab.cluster import Lab
from streamdr.runtime.distribution import ensure_runtime
from streamdr.runtime.ports import free_ports
from streamdr.settings import load_settings
from streamdr.settings.model import SiteSettings, SourceSettings

METHOD = 2  # 2: start-up ends at the first change in Kafka
TABLE = "bench_items"
PARTITIONS = 3
ROOT = Path(__file__).resolve().parent.parent
DEBEZIUM_VERSION = "3.6.1.Final"
STARTUP_TIMEOUT_S = 600
CONNECT_MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident set size (VmHWM) of ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Arrivals:
    """Append times (epoch s) of the records of one topic, by row id, read in a thread."""

    site: SiteSettings
    topic: str
    seen: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Arrivals:
        """Start consuming from the beginning; return self."""
        consumer = make_consumer(self.site, f"bench-cdc-{uuid.uuid4().hex[:8]}")
        consumer.subscribe([self.topic])
        threading.Thread(target=self._run, args=(consumer,), daemon=True).start()
        return self

    def _run(self, consumer: Any) -> None:
        while not self.stop.is_set():
            for msg in consumer.consume(10_000, timeout=0.2):
                if msg.error() is None and msg.key():
                    self.seen[int(json.loads(msg.key())["id"])] = msg.timestamp()[1] / 1000
        consumer.close()

    def wait_for(self, ids: range, timeout: float) -> None:
        """Wait until every id arrived; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(i in self.seen for i in ids):
                return
            time.sleep(0.2)
        raise TimeoutError(f"{sum(i in self.seen for i in ids)}/{len(ids)} rows in {self.topic}")


def commit_rows(dsn: str, first: int, rows: int, per_txn: int) -> dict[int, float]:
    """Insert ``rows`` rows in transactions of ``per_txn``; return each id's commit time."""
    done: dict[int, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for base in range(first, first + rows, per_txn):
            ids = range(base, min(base + per_txn, first + rows))
            if per_txn == 1:
                conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, 'bench')", (base, base))
            else:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {TABLE} VALUES (%s, %s, 'bench')", [(i, i) for i in ids]
                    )
            now = time.time()
            done.update(dict.fromkeys(ids, now))
    return done


@dataclass
class System:
    """One CDC system under test: how to start it, its slot, its topic and its process."""

    name: str
    slot: str
    topic: str
    start: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None


def walsender_pid(dsn: str, slot: str) -> int | None:
    """Return the pid of the walsender streaming ``slot`` (None: not streamed)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s AND active", (slot,)
        ).fetchone()
    return row[0] if row else None


def run_system(
    system: System, dsn: str, site: SiteSettings, args: argparse.Namespace, first: int
) -> dict[str, Any]:
    """Start ``system``, run both workloads, stop it; return its figures."""
    arrivals = Arrivals(site, system.topic).start()
    started = time.monotonic()
    system.proc = system.start()
    walsender = None
    while walsender is None:
        if system.proc.poll() is not None or time.monotonic() - started > STARTUP_TIMEOUT_S:
            raise RuntimeError(f"{system.name} did not start streaming its slot")
        time.sleep(0.05)
        walsender = walsender_pid(dsn, system.slot)
    out: dict[str, Any] = {"slot_streamed_s": round(time.monotonic() - started, 2)}
    try:
        # Start-up ends when a change committed now is in Kafka (a system may stream its slot
        # well before its producer is ready); the workloads then measure steady work only.
        commit_rows(dsn, first, 1, 1)
        arrivals.wait_for(range(first, first + 1), STARTUP_TIMEOUT_S)
        out["startup_s"] = round(time.monotonic() - started, 2)
        first += 1
        for label, rows, per_txn in (
            ("batches", args.batch_rows, 1000),
            ("singles", args.singles, 1),
        ):
            out[label] = workload(system, walsender, dsn, arrivals, first, rows, per_txn)
            first += rows
        out["peak_rss_mb"] = round(peak_rss_mb(system.proc.pid), 1)
    finally:
        arrivals.stop.set()
        system.proc.terminate()
        system.proc.wait(60)
        _drop_slot(dsn, system.slot)
    return out


def workload(
    system: System,
    walsender: int,
    dsn: str,
    arrivals: Arrivals,
    first: int,
    rows: int,
    per_txn: int,
) -> dict[str, Any]:
    """Commit one workload and wait for it in Kafka; return rate, latency and CPU."""
    assert system.proc is not None
    # The walsender of this moment: a reader that reconnected streams through a new one.
    walsender = walsender_pid(dsn, system.slot) or walsender
    cdc0, wal0 = cpu_seconds(system.proc.pid), cpu_seconds(walsender)
    start = time.time()
    committed = commit_rows(dsn, first, rows, per_txn)
    ids = range(first, first + rows)
    arrivals.wait_for(ids, 1800)
    cdc_cpu = cpu_seconds(system.proc.pid) - cdc0
    wal_cpu = cpu_seconds(walsender) - wal0
    if walsender_pid(dsn, system.slot) != walsender:
        raise RuntimeError(f"{system.name} reconnected during the workload: CPU not measurable")
    last = max(arrivals.seen[i] for i in ids)
    lat = [arrivals.seen[i] - committed[i] for i in ids]
    return {
        "rows": rows,
        "rows_per_txn": per_txn,
        "changes_per_s": round(rows / (last - start), 1),
        "commit_s": round(max(committed.values()) - start, 2),
        "latency_p50_ms": round(percentile(lat, 0.5) * 1000, 1),
        "latency_p99_ms": round(percentile(lat, 0.99) * 1000, 1),
        "cdc_cpu_s": round(cdc_cpu, 2),
        "walsender_cpu_s": round(wal_cpu, 2),
        "walsender_cpu_us_per_change": round(wal_cpu / rows * 1e6, 1),
    }


def _drop_slot(dsn: str, slot: str) -> None:
    for _ in range(100):
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is None:
                return
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                return
        time.sleep(0.1)


def streamdr_system(settings: Any, dsn: str, work: Path) -> System:
    """Return streamdr's reader as a system (`streamdr cdc run bench`, topic ``sdr.…``)."""
    source = SourceSettings(
        kind="postgres", dsn=dsn, topic_prefix="sdr", tables=[f"public.{TABLE}"], slot="sdr_bench"
    )
    config = write_settings(derive(settings, sources={"bench": source}), work / "streamdr.yaml")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = (work / "streamdr-cdc.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        cmd = streamdr_command(config, ["cdc", "run", "bench"])
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    return System("streamdr", "sdr_bench", f"sdr.public.{TABLE}", start)


def debezium_system(site: SiteSettings, pg: LocalPostgres, dbname: str, work: Path) -> System:
    """Return Debezium in Kafka Connect standalone as a system (topic ``dbz.…``)."""
    plugin = Path.home() / ".cache" / "streamdr" / f"debezium-{DEBEZIUM_VERSION}" / "plugin"
    worker = {
        "bootstrap.servers": site.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": str(work / "connect.offsets"),
        "offset.flush.interval.ms": "1000",
        "plugin.path": str(plugin),
        # Service manifests only: reflective scanning of every jar took minutes on a busy host.
        "plugin.discovery": "service_load",
        "listeners": f"http://127.0.0.1:{free_ports(1)[0]}",
    }
    connector = {
        "name": "dbz-bench",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "127.0.0.1",
        "database.port": str(pg.port),
        "database.user": "postgres",
        "database.password": "unused",  # trust authentication on loopback
        "database.dbname": dbname,
        "topic.prefix": "dbz",
        "plugin.name": "pgoutput",
        "slot.name": "dbz_bench",
        "publication.name": "dbz_bench",
        "publication.autocreate.mode": "filtered",
        "table.include.list": f"public.{TABLE}",
        "snapshot.mode": "no_data",
        "decimal.handling.mode": "string",
        "poll.interval.ms": "50",
    }
    files = []
    for name, props in (("worker", worker), ("connector", connector)):
        path = work / f"{name}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        files.append(str(path))
    log = (work / "debezium.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        cmd = ensure_runtime().command(CONNECT_MAIN, files, heap_mb=512, log_dir=work)
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work)

    return System("debezium", "dbz_bench", f"dbz.public.{TABLE}", start)


def prepare(site: SiteSettings, pg: LocalPostgres, dbname: str, topics: list[str]) -> str:
    """Create the database, the table and the LogAppendTime topics; return the table's dsn."""
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = pg.dsn(dbname)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, change_no bigint NOT NULL, note text)"
        )
    config = {"message.timestamp.type": "LogAppendTime", "min.insync.replicas": "2"}
    KafkaAdmin("primary", site).create_topics([TopicSpec(t, PARTITIONS, 3, config) for t in topics])
    return dsn


def main() -> None:
    """Run the benchmark and report it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab-dir", type=Path, default=Path("/tmp/bench-lab-cdc"))
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--singles", type=int, default=20_000)
    parser.add_argument("--only", choices=("streamdr", "debezium"))
    parser.add_argument("--keep-lab", action="store_true")
    args = parser.parse_args()
    logging.getLogger("streamdr.librdkafka").setLevel(logging.CRITICAL)
    subprocess.run([str(ROOT / "scripts" / "fetch-debezium")], check=True)
    lab = Lab(args.lab_dir)
    try:
        lab.up(("primary",), timeout=600)  # one site is enough; a busy host starts JVMs slowly
    except BaseException:
        lab.down(purge=True)
        raise
    settings = load_settings(lab.settings_file)
    site = settings.sites["primary"]
    root = Path(tempfile.mkdtemp(prefix="streamdr-bench-cdc-"))
    root.chmod(0o755)
    pg = LocalPostgres(root / "data", free_ports(1)[0])
    pg.init()
    pg.start()
    results: dict[str, Any] = {}
    try:
        dbname = "bench_" + uuid.uuid4().hex[:8]
        systems = [
            streamdr_system(settings, pg.dsn(dbname), root),
            debezium_system(site, pg, dbname, root),
        ]
        systems = [s for s in systems if args.only in (None, s.name)]
        dsn = prepare(site, pg, dbname, [s.topic for s in systems])
        for i, system in enumerate(systems):
            first = 1 + i * 10_000_000
            results[system.name] = run_system(system, dsn, site, args, first)
        load_avg = os.getloadavg()[0]
    except BaseException:
        sys.stderr.write(f"bench.cdc failed; logs kept in {root}\n")
        raise
    finally:
        pg.destroy()
        if not args.keep_lab:
            lab.down(purge=True)
    shutil.rmtree(root, ignore_errors=True)
    report(args, results, load_avg)


def ratio(ours: float, theirs: float) -> float | None:
    """Return ours / theirs rounded, None when theirs is zero."""
    return round(ours / theirs, 2) if theirs else None


def report(args: argparse.Namespace, results: dict[str, Any], load_avg: float) -> None:
    """Emit the JSON line and the docs/benchmarks.md section."""
    result = {"method": METHOD, "load_average_1m": round(load_avg, 1), **results}
    rows = []
    for label in ("batches", "singles"):
        s, d = results.get("streamdr", {}).get(label), results.get("debezium", {}).get(label)
        if not s or not d:
            continue
        s_cpu = s["walsender_cpu_us_per_change"]
        d_cpu = d["walsender_cpu_us_per_change"]
        what = f"{s['rows']:,} rows, {s['rows_per_txn']:,}/txn"
        rows += [
            f"| {what}: changes/s | {s['changes_per_s']:,} | {d['changes_per_s']:,} "
            f"| {ratio(s['changes_per_s'], d['changes_per_s'])} |",
            f"| {what}: latency p50 / p99 (ms) | {s['latency_p50_ms']} / {s['latency_p99_ms']} "
            f"| {d['latency_p50_ms']} / {d['latency_p99_ms']} "
            f"| {ratio(s['latency_p99_ms'], d['latency_p99_ms'])} (p99) |",
            f"| {what}: CDC process CPU s | {s['cdc_cpu_s']} | {d['cdc_cpu_s']} "
            f"| {ratio(s['cdc_cpu_s'], d['cdc_cpu_s'])} |",
            f"| {what}: walsender CPU µs/change | {s_cpu} | {d_cpu} | {ratio(s_cpu, d_cpu)} |",
        ]
    if "streamdr" in results and "debezium" in results:
        s, d = results["streamdr"], results["debezium"]
        rows += [
            f"| start-up (spawn → first change in Kafka) | {s['startup_s']} s "
            f"| {d['startup_s']} s "
            f"| {ratio(s['startup_s'], d['startup_s'])} |",
            f"| peak RSS of the CDC process | {s['peak_rss_mb']} MB | {d['peak_rss_mb']} MB "
            f"| {ratio(s['peak_rss_mb'], d['peak_rss_mb'])} |",
        ]
    table = "\n".join(rows)
    markdown = f"""## CDC stage: streamdr's reader vs Debezium (commit → Kafka)

`bench/cdc.py`: one local PostgreSQL, one table, each system with its own pgoutput slot and
publication, one system at a time, into a {PARTITIONS}-partition RF-3 topic of the lab with
`message.timestamp.type=LogAppendTime`. streamdr: `streamdr cdc run` (streaming replication
protocol, acks=all, idempotent, checkpoint in Kafka before the slot moves). Debezium
{DEBEZIUM_VERSION} PostgreSQL connector in Kafka Connect standalone from the lab's Kafka jars
(own `plugin.path`, JSON without schemas, `snapshot.mode=no_data`, `poll.interval.ms=50`).
Rows are committed back to back by one writer; changes/s = rows / (first commit → last
append); latency = broker append time - the writer's commit acknowledgement; CPU from
`/proc/<pid>/stat` over each workload (the walsender is the PostgreSQL process decoding for
that system's slot).

| measure | streamdr | Debezium | ratio |
|---|---|---|---|
{table}

The machine is shared (2 cores, several other helpers' labs and tests running at once): the
1-minute load average at the end of this run was {result["load_average_1m"]}. Both systems ran
under the same load, one after the other; compare the ratios, not the absolutes.
"""
    emit("cdc", result, markdown)


if __name__ == "__main__":
    main()
