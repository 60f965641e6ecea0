"""The protected pipeline end to end: source commit → endpoint applied, next to raw Kafka.

Pipeline (the production pieces, as the drills run them): PostgreSQL → `streamdr cdc run`
(pgoutput, acks=all, Kafka checkpoint, slot advance) → 3-partition change topic →
`streamdr run` (one worker process, signed passthrough transformation, HMAC-signed POST with
Idempotency-Key, breaker, DLQ) → the reference endpoint (signature check, SQLite idempotency
store). Two phases:

1. throughput: a backlog of N committed inserts (100 per transaction) drained as fast as the
   pipeline goes; events/s = N / (first commit → last applied);
2. latency: an offered load of 50/s (at most a quarter of that rate) for a while, one insert
   per transaction;
   latency = endpoint applied time minus source commit time (the event's own commit timestamp).

Baseline, same run, same lab: raw confluent-kafka on a fresh 3-partition RF-3 topic — produce
(acks=all, idempotent) and consume N records of the same size (records/s), and, at the same
offered rate, per-record latency produce → consume. Reported as ratios.

Usage: python -m bench.pipeline [--lab-dir DIR] [--events N] [--latency-seconds S] [--keep-lab]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from bench._common import add_lab_arguments, bench_lab, cpu_seconds, quiet_kafka_logs
from bench.raw import produce_all
from bench.report import RESULTS_DIR, emit, peak_rss_mb
from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import DELIVERY_MODES, DRILL_BATCH, parse_delivery
from streamdr.drills.pipeline_rig import TABLE, PipelineRig
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.pipeline.cdc.service import PRODUCER as CDC_PRODUCER
from streamdr.settings import Settings, load_settings
from streamdr.settings.model import SiteSettings
from streamdr.store.db import MetadataStore

PARTITIONS = 3
BATCH = 100
METHOD = 3  # bump when the measurement changes, so old runs are not compared with new ones
RAW_RECORDS = 200_000  # enough for a steady raw rate (a few thousand only measure start-up)


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def pipeline_throughput(rig: PipelineRig, events: int, first_id: int) -> tuple[float, float]:
    """Commit ``events`` inserts in batches; return (events/s, seconds) until all applied."""
    start = time.time()
    with psycopg.connect(rig.db.dsn(rig.dbname)) as conn:
        for base in range(first_id, first_id + events, BATCH):
            with conn.transaction():
                for i in range(base, min(base + BATCH, first_id + events)):
                    conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, 'bench')", (i, i))
    wanted = set(range(first_id, first_id + events))
    rig.wait(lambda: wanted <= set(rig.applied()), 1800, "the backlog to drain")
    took = time.time() - start
    return events / took, took


def pipeline_latency(rig: PipelineRig, rate: float, seconds: float) -> list[float]:
    """Offer ``rate`` single-insert transactions per second; return per-event latencies (s)."""
    load = rig.start_load(rate)
    time.sleep(seconds)
    committed = load.stop()
    rig.wait(lambda: set(committed) <= set(rig.applied()), 600, "the latency load to drain")
    assert rig.endpoint is not None
    out = []
    for item in rig.endpoint.client.applied(rig.workflow_name):
        row = item["payload"].get("row") or {}
        if row.get("change_no") in committed and item.get("event_time"):
            commit = datetime.fromisoformat(item["event_time"]).timestamp()
            out.append(item["applied_at"] - commit)
    return out


def raw_baseline(site: SiteSettings, records: int, size: int) -> dict[str, float]:
    """Return raw produce and consume records/s for ``records`` of ``size`` bytes."""
    topic = f"bench.pipeline-baseline.{uuid.uuid4().hex[:8]}"
    KafkaAdmin("primary", site).create_topics([TopicSpec(topic, PARTITIONS, 3)])
    producer = make_producer(site, **{"linger.ms": 5})
    value = b"v" * size
    start = time.perf_counter()
    produce_all(producer, topic, records, value)
    producer.flush(300)
    produce_s = time.perf_counter() - start
    consumer = make_consumer(site, f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([topic])
    seen, first = 0, None
    deadline = time.monotonic() + 600
    while seen < records and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, timeout=1.0):
            if msg.error() is None:
                first = first or time.perf_counter()
                seen += 1
    consume_s = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return {
        "records": records,
        "produce_per_s": records / produce_s,
        "consume_per_s": seen / max(consume_s, 1e-9),
    }


def raw_latency(site: SiteSettings, rate: float, seconds: float) -> list[float]:
    """Return produce → consume latencies (s) of records offered at ``rate`` per second."""
    topic = f"bench.pipeline-latency.{uuid.uuid4().hex[:8]}"
    KafkaAdmin("primary", site).create_topics([TopicSpec(topic, PARTITIONS, 3)])
    consumer = make_consumer(site, f"bench-{uuid.uuid4().hex[:8]}", **{"fetch.wait.max.ms": 10})
    ready = threading.Event()
    consumer.subscribe([topic], on_assign=lambda c, p: ready.set())
    latencies: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            msg = consumer.poll(0.1)
            if msg is not None and msg.error() is None:
                latencies.append(time.time() - float(msg.value()))

    while not ready.is_set():
        consumer.poll(0.1)
    producer = make_producer(site, **CDC_PRODUCER)  # the settings the CDC reader produces with
    producer.produce(topic, str(time.time()).encode())  # warm-up: producer id, metadata, fetch
    producer.flush(30)
    while consumer.poll(1.0) is None:
        pass
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    interval, next_at, end = 1.0 / rate, time.monotonic(), time.monotonic() + seconds
    while time.monotonic() < end:
        producer.produce(topic, str(time.time()).encode())
        producer.poll(0)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    producer.flush(60)
    time.sleep(2)
    stop.set()
    thread.join(timeout=10)
    consumer.close()
    return latencies


@dataclass
class ModeResult:
    """What one delivery mode measured end to end."""

    mode: str
    rate: float
    took: float
    offered: float
    latencies: list[float]
    cpu_us: dict[str, float]  # stage -> CPU µs per event over the throughput phase


def _stage_pids(rig: PipelineRig) -> dict[str, int]:
    assert rig.children is not None and rig.endpoint is not None
    assert rig.endpoint.proc is not None
    procs = rig.children.procs
    return {
        "cdc": procs["cdc"].pid,
        "worker": procs["worker"].pid,
        "endpoint": rig.endpoint.proc.pid,
    }


def measure_mode(
    settings: Settings, mode: str, events: int, rate_cap: float, seconds: float
) -> ModeResult:
    """Run the pipeline in delivery ``mode`` on a fresh rig: throughput, CPU per stage, latency."""
    ctx = DrillContext(settings, "primary", MetadataStore.from_settings(settings), delivery=mode)
    rig = PipelineRig(ctx, f"bench-{mode}")
    try:
        rig.setup()
        rig.start_cdc()
        rig.start_worker()
        pids = _stage_pids(rig)
        before = {stage: cpu_seconds(pid) for stage, pid in pids.items()}
        rate, took = pipeline_throughput(rig, events, 10_000_000)
        cpu_us = {
            stage: round((cpu_seconds(pid) - before[stage]) / events * 1e6, 1)
            for stage, pid in pids.items()
        }
        # A fixed moderate rate well below capacity: latency, not queueing behind a backlog.
        offered = min(rate_cap, max(1.0, round(rate / 4)))
        lat = pipeline_latency(rig, offered, seconds)
    finally:
        rig.close()
    return ModeResult(mode, rate, took, offered, lat, cpu_us)


def main() -> None:
    """Run the benchmark and report it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--latency-rate", type=float, default=50.0)
    parser.add_argument(
        "--modes", default=",".join(DELIVERY_MODES), help="Delivery modes, comma-separated."
    )
    add_lab_arguments(parser, Path("/tmp/bench-lab-4"))
    args = parser.parse_args()
    modes = [parse_delivery(m.strip()) for m in args.modes.split(",") if m.strip()]
    quiet_kafka_logs()
    with bench_lab(args.lab_dir, keep=args.keep_lab) as lab:
        settings = load_settings(lab.settings_file)
        site = settings.sites["primary"]
        raw = raw_baseline(site, max(args.events * 20, RAW_RECORDS), 300)
        results = [
            measure_mode(settings, mode, args.events, args.latency_rate, args.latency_seconds)
            for mode in modes
        ]
        # The raw latency at the first mode's offered rate: the same order of load as the pipeline.
        raw_lat = raw_latency(site, results[0].offered, args.latency_seconds)
        load_avg = os.getloadavg()[0]
    report(args, results, raw, raw_lat, load_avg)


def _mode_fields(r: ModeResult, raw_e2e: float, r50: float, r99: float) -> dict[str, object]:
    p50, p99 = percentile(r.latencies, 0.5), percentile(r.latencies, 0.99)
    return {
        "events_per_s": round(r.rate, 1),
        "drain_seconds": round(r.took, 2),
        "offered_rate_per_s": r.offered,
        "latency_samples": len(r.latencies),
        "latency_p50_ms": round(p50 * 1000, 1),
        "latency_p99_ms": round(p99 * 1000, 1),
        "latency_mean_ms": round(statistics.fmean(r.latencies) * 1000, 1),
        "throughput_ratio": round(r.rate / raw_e2e, 4),
        "latency_ratio_p50": round(p50 / r50, 1) if r50 else None,
        "latency_ratio_p99": round(p99 / r99, 1) if r99 else None,
        "cpu_us_per_event": r.cpu_us,
    }


def report(
    args: argparse.Namespace,
    results: list[ModeResult],
    raw: dict[str, float],
    raw_lat: list[float],
    load_avg: float,
) -> None:
    """Emit the JSON line and the docs/benchmarks.md section."""
    r50, r99 = percentile(raw_lat, 0.5), percentile(raw_lat, 0.99)
    raw_e2e = min(raw["produce_per_s"], raw["consume_per_s"])
    modes = {r.mode: _mode_fields(r, raw_e2e, r50, r99) for r in results}
    result = {
        "method": METHOD,
        "events": args.events,
        "partitions": PARTITIONS,
        "workers": 1,
        "drill_batch": {
            "max_events": DRILL_BATCH.max_events,
            "max_wait_ms": DRILL_BATCH.max_wait_ms,
        },
        "modes": modes,
        "raw_records": int(raw["records"]),
        "raw_produce_per_s": round(raw["produce_per_s"]),
        "raw_consume_per_s": round(raw["consume_per_s"]),
        "raw_latency_p50_ms": round(r50 * 1000, 1),
        "raw_latency_p99_ms": round(r99 * 1000, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "load_average_1m": round(load_avg, 1),
    }
    emit("pipeline", result, markdown(result) + history_table(result))


def markdown(r: dict[str, Any]) -> str:
    """Return the docs/benchmarks.md section for result ``r``."""
    raw_rate = min(r["raw_produce_per_s"], r["raw_consume_per_s"])
    rows = []
    for mode, m in r["modes"].items():
        cpu = ", ".join(f"{k} {v:,.0f}" for k, v in m["cpu_us_per_event"].items())
        rows += [
            f"| {mode}: sustained rate ({r['events']:,} inserts, {BATCH}/txn) "
            f"| {m['events_per_s']:,} events/s | {raw_rate:,} records/s "
            f"| {m['throughput_ratio']} |",
            f"| {mode}: latency p50 / p99 at {m['offered_rate_per_s']:.0f}/s offered "
            f"| {m['latency_p50_ms']} / {m['latency_p99_ms']} ms "
            f"| {r['raw_latency_p50_ms']} / {r['raw_latency_p99_ms']} ms "
            f"| {m['latency_ratio_p50']}x / {m['latency_ratio_p99']}x |",
            f"| {mode}: CPU µs per event | {cpu} | | |",
        ]
    table = "\n".join(rows)
    batch = r["drill_batch"]
    return f"""## Pipeline end to end (source commit → endpoint applied)

`bench/pipeline.py`: PostgreSQL → `streamdr cdc run` (streaming replication) →
{PARTITIONS}-partition topic → one `streamdr run` worker (signed passthrough transformation,
ordering by key) → the reference endpoint (signature check, SQLite idempotency store), once per
delivery mode: per event (one signed POST per event) and batched (one signed POST of up to
{batch["max_events"]} events, {batch["max_wait_ms"]} ms wait — the drills' batch). Raw baseline:
the same lab, confluent-kafka produce (acks=all, idempotent) / consume of {r["raw_records"]:,}
records of 300 B (produce {r["raw_produce_per_s"]:,}/s, consume {r["raw_consume_per_s"]:,}/s);
its latency at the first mode's offered rate, one record per produce call, with the CDC reader's
producer settings.

| measure | pipeline | raw Kafka | ratio |
|---|---|---|---|
{table}

Latency is the endpoint's applied time minus the source transaction's commit time (one insert
per transaction). CPU µs per event: each stage process's CPU time over the throughput phase
(`/proc/<pid>/stat`) divided by the events — the cost apart from the shared machine (PostgreSQL's
own backend is not counted here; `bench/cdc.py` measures it). 1-minute load average at the end of
the run: {r["load_average_1m"]} on {os.cpu_count()} CPUs, shared with the lab's six brokers."""


def history_table(latest: dict[str, Any]) -> str:
    """Return a table of the recent runs in bench/results/pipeline.jsonl (this one included).

    On a shared machine one run says little: the spread and the load beside each run do.
    """
    runs = []
    results = RESULTS_DIR / "pipeline.jsonl"
    if results.exists():
        for line in results.read_text().splitlines():
            doc = json.loads(line)
            if doc.get("benchmark") == "pipeline" and doc.get("method") == METHOD:
                runs.append(doc)
    rows = []
    for d in [*runs[-7:], {**latest, "at": "this run"}]:
        for mode, m in d["modes"].items():
            rows.append(
                f"| {d['at']} | {mode} | {m['events_per_s']} | {m['latency_p50_ms']} | "
                f"{m['latency_p99_ms']} | {d['raw_produce_per_s']:,} | {m['throughput_ratio']} | "
                f"{d['load_average_1m']} |"
            )
    return (
        "\n\nRecent runs on this machine (`bench/results/pipeline.jsonl`; the load average "
        "shows how much the two CPUs were shared):\n\n"
        "| run | mode | events/s | p50 ms | p99 ms | raw produce/s | rate ratio | load 1m |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )


if __name__ == "__main__":
    main()
