"""Delivery alone (Kafka → endpoint applied): per-event and batched, 1 and 2 worker processes.

A backlog of N change events (keyed by row id, 3 partitions) is produced first; worker
processes (the production Runner and consumer loop, in-process passthrough transformation)
then drain it into the reference endpoint (signature check, SQLite idempotency store).
events/s = N / (first applied → last applied, endpoint clock). CPU µs per event per stage:
each process's CPU time (/proc) over the drain divided by N. Latency: events produced at an
offered rate with their commit time = produce time; latency = applied time - commit time.
Baseline, same run: raw consume of the same backlog with a fresh group.

Usage: python -m bench.delivery [--lab-dir DIR] [--events N] [--rate R] [--latency-seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import (
    add_lab_arguments,
    bench_lab,
    cpu_seconds,
    quiet_kafka_logs,
    rss_mib,
)
from bench.pipeline import percentile
from bench.report import emit
from streamdr.artifacts.api import ChangeEvent
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.pipeline.endpoint.server import EndpointProcess
from streamdr.pipeline.events import change_event_id, encode_event
from streamdr.runtime.ports import free_ports
from streamdr.settings import load_settings
from streamdr.settings.model import SiteSettings

PARTITIONS = 3
SECRET_ENV = "STREAMDR_BENCH_SECRET"
BATCH = {"max_events": 200, "max_bytes": 524288, "max_wait_ms": 20}
ROOT = Path(__file__).resolve().parent.parent


def produce_events(
    site: SiteSettings, topic: str, n: int, rate: float | None = None, first: int = 1
) -> None:
    """Produce ``n`` insert events (ids first..first+n-1, 100 keys) now, or at ``rate`` per s."""
    producer = make_producer(site, **{"linger.ms": 5})
    interval, next_at = (1.0 / rate if rate else 0.0), time.monotonic()
    for i in range(first, first + n):
        key = {"id": i % 100}
        event = ChangeEvent(
            change_event_id("bench", str(i), "public.items", key, 0),
            "bench",
            "public.items",
            "insert",
            key,
            None,
            {"id": i % 100, "change_no": i},
            datetime.now(UTC),
            str(i),
        )
        rec = encode_event(event, topic)
        while True:
            try:
                producer.produce(topic, rec.value, key=rec.key, headers=rec.headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if rate:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    producer.flush(120)


class Run:
    """One measured configuration: a topic, an endpoint and worker processes."""

    def __init__(self, settings_file: Path, site: SiteSettings, tmp: Path, batched: bool) -> None:
        self.uid = uuid.uuid4().hex[:8]
        self.settings_file, self.site, self.tmp = settings_file, site, tmp
        self.topic = f"bench.delivery.{self.uid}"
        KafkaAdmin("primary", site).create_topics([TopicSpec(self.topic, PARTITIONS, 3)])
        self.endpoint = EndpointProcess(
            free_ports(1)[0], tmp / f"ep-{self.uid}.db", secret_env=SECRET_ENV
        ).start()
        delivery: dict[str, Any] = {"ordering": "key", "max_in_flight": 64}
        if batched:
            delivery["batch"] = BATCH
        self.workflow = {
            "name": f"bench-{self.uid}",
            "client": "bench",
            "tier": "standard",
            "source": {"topic": self.topic},
            "transformation": {"name": "passthrough", "version": "1.0.0"},
            "sink": {
                "kind": "http",
                "url": f"{self.endpoint.url}/events/bench",
                "signing_secret_env": SECRET_ENV,
                "timeout_seconds": 10,
            },
            "delivery": delivery,
        }
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_workers(self, count: int) -> None:
        spec = self.tmp / f"spec-{self.uid}.json"
        spec.write_text(
            json.dumps({"settings": str(self.settings_file), "workflows": [self.workflow]})
        )
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.delivery_worker", str(spec)],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=(self.tmp / "worker.log").open("ab"),
                )
            )

    def wait_applied(self, n: int, timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        while self.endpoint.client.stats()["applied"] < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.endpoint.client.stats()['applied']} of {n} applied")
            time.sleep(0.2)

    def applied(self) -> list[dict[str, Any]]:
        return list(self.endpoint.client.applied())

    def close(self) -> None:
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.endpoint.stop()


def drain(
    settings_file: Path, site: SiteSettings, tmp: Path, n: int, batched: bool, workers: int
) -> dict[str, Any]:
    """Return events/s and CPU µs per event (worker, endpoint) of draining an n-event backlog."""
    run = Run(settings_file, site, tmp, batched)
    try:
        produce_events(site, run.topic, n)
        assert run.endpoint.proc is not None
        ep_cpu0 = cpu_seconds(run.endpoint.proc.pid)
        run.start_workers(workers)
        # Memory flat: a worker's resident size half-way through the backlog and at its end.
        run.wait_applied(n // 2)
        rss_half = max(rss_mib(p.pid) for p in run.workers)
        run.wait_applied(n)
        rss_end = max(rss_mib(p.pid) for p in run.workers)
        rss_peak = max(rss_mib(p.pid, "VmHWM") for p in run.workers)
        worker_cpu = sum(cpu_seconds(p.pid) for p in run.workers)
        ep_cpu = cpu_seconds(run.endpoint.proc.pid) - ep_cpu0
        times = [item["applied_at"] for item in run.applied()]
        span = max(times) - min(times)
        stats = run.endpoint.client.stats()
        return {
            "mode": "batched" if batched else "per-event",
            "workers": workers,
            "events": n,
            "events_per_s": round(n / max(span, 1e-6), 1),
            # worker CPU includes process start-up and the group join (a fixed cost).
            "worker_cpu_us_per_event": round(worker_cpu / n * 1e6, 1),
            "endpoint_cpu_us_per_event": round(ep_cpu / n * 1e6, 1),
            "duplicates": stats["duplicates"],
            "worker_rss_mib_half": round(rss_half, 1),
            "worker_rss_mib_end": round(rss_end, 1),
            "worker_rss_mib_peak": round(rss_peak, 1),
        }
    finally:
        run.close()


def latency(
    settings_file: Path, site: SiteSettings, tmp: Path, rate: float, seconds: float, batched: bool
) -> dict[str, Any]:
    """Return p50/p99 produce(commit) → applied latency at ``rate`` events/s offered."""
    run = Run(settings_file, site, tmp, batched)
    try:
        run.start_workers(1)
        produce_events(site, run.topic, 50)  # warm-up: group join, connections
        run.wait_applied(50, 120)
        n = int(rate * seconds)
        # New ids after the warm-up's: a repeated id is a duplicate, never "applied" again.
        produce_events(site, run.topic, n, rate, first=51)
        run.wait_applied(50 + n, 600)
        lat = [
            item["applied_at"] - datetime.fromisoformat(item["event_time"]).timestamp()
            for item in run.applied()[50:]
        ]
        return {
            "mode": "batched" if batched else "per-event",
            "offered_per_s": rate,
            "samples": len(lat),
            "p50_ms": round(percentile(lat, 0.5) * 1000, 1),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 1),
        }
    finally:
        run.close()


def raw_consume(site: SiteSettings, n: int) -> float:
    """Return records/s of a raw consume of an n-event backlog like the benchmark's."""
    topic = f"bench.delivery-raw.{uuid.uuid4().hex[:8]}"
    KafkaAdmin("primary", site).create_topics([TopicSpec(topic, PARTITIONS, 3)])
    produce_events(site, topic, n)
    consumer = make_consumer(site, f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([topic])
    seen, first = 0, None
    while seen < n:
        for msg in consumer.consume(10_000, timeout=1.0):
            if msg.error() is None:
                first = first or time.perf_counter()
                seen += 1
    took = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return seen / max(took, 1e-9)


def main() -> None:
    """Run every configuration once and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    add_lab_arguments(parser, Path("/tmp/bench-lab-4"))
    args = parser.parse_args()
    quiet_kafka_logs()
    os.environ.setdefault(SECRET_ENV, "bench-" + uuid.uuid4().hex)
    with bench_lab(args.lab_dir, keep=args.keep_lab) as lab:
        settings_file = lab.settings_file
        site = load_settings(settings_file).sites["primary"]
        tmp = Path(f"/tmp/bench-delivery-{uuid.uuid4().hex[:6]}")
        tmp.mkdir()
        raw = raw_consume(site, args.events)
        drains = [
            drain(settings_file, site, tmp, args.events, batched, workers)
            for batched in (False, True)
            for workers in (1, 2)
        ]
        lats = [
            latency(settings_file, site, tmp, args.rate, args.latency_seconds, b)
            for b in (False, True)
        ]
        load_avg = os.getloadavg()[0]
    report(raw, drains, lats, load_avg)


def report(
    raw: float, drains: list[dict[str, Any]], lats: list[dict[str, Any]], load_avg: float
) -> None:
    """Emit the JSON line and the docs/benchmarks.md section."""
    result = {
        "raw_consume_per_s": round(raw),
        "drains": drains,
        "latency": lats,
        "load_average_1m": round(load_avg, 1),
    }
    rows = "\n".join(
        f"| {d['mode']} | {d['workers']} | {d['events_per_s']:,} | "
        f"{round(d['events_per_s'] / raw, 4)} | {d['worker_cpu_us_per_event']} | "
        f"{d['endpoint_cpu_us_per_event']} | {d['duplicates']} | "
        f"{d['worker_rss_mib_half']} / {d['worker_rss_mib_end']} / {d['worker_rss_mib_peak']} |"
        for d in drains
    )
    lat_rows = "\n".join(
        f"| {x['mode']} | {x['offered_per_s']:.0f}/s | {x['samples']} | {x['p50_ms']} | "
        f"{x['p99_ms']} |"
        for x in lats
    )
    columns = (
        "mode",
        "workers",
        "events/s",
        "ratio to raw",
        "worker CPU µs/ev",
        "endpoint CPU µs/ev",
        "dups",
        "worker RSS MiB half-way / end / peak",
    )
    head = "| " + " | ".join(columns) + " |"
    markdown = f"""## Delivery alone (Kafka → endpoint applied)

`bench/delivery.py`: a backlog of {drains[0]["events"]:,} change events on a {PARTITIONS}-partition
topic (100 keys), drained by worker processes (production consumer loop, passthrough
transformation in-process, `ordering: key`, `max_in_flight: 64`) into the reference endpoint;
batched = `delivery.batch` {BATCH}. Raw baseline, same run: consume of the same backlog,
{raw:,.0f} records/s.

{head}
|---|---|---|---|---|---|---|---|
{rows}

| mode | offered | events | p50 commit→applied ms | p99 ms |
|---|---|---|---|---|
{lat_rows}

Goals (bench figures, not timed tests): ≥ 2,000 events/s per-event, ≥ 8,000 batched, p99
commit→applied ≤ 250 ms at 1,000 events/s offered. The 2 CPUs are shared with the lab's six
brokers (and with whatever else ran); 1-minute load average at the end of this run:
{load_avg:.1f}. Under load the figures are a floor, not the capacity."""
    emit("delivery", result, markdown)


if __name__ == "__main__":
    main()
