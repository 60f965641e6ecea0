"""Benchmark: backup and restore throughput against raw confluent-kafka consume and produce.

1,000,000 records of 500 bytes (JSON-like text, one 16-byte event-id header) over 6
partitions, on a running lab or any site. In one run, each phase in its own process (so that
its peak RSS is its own):

1. raw produce   — confluent-kafka Producer, the same settings the restore uses; this also
                   fills the source topic;
2. raw consume   — confluent-kafka Consumer.consume() batches of the whole topic, the same
                   settings the backup uses, touching every value (the headline baseline);
                   again reading every field a backup needs (key, headers, timestamp, offset);
3. backup        — `backup run` (BackupService) of the topic into a fresh local directory;
4. restore       — `restore` (RestoreExecutor) into a new topic, including its read-back
                   verification (the produce phase alone is reported too).

Prints one JSON line with records/s, MB/s, seconds and peak RSS per phase and the ratios
backup/raw-consume and restore/raw-produce (goal >= 0.7). Not part of `make test`.

    python -m bench.backup_restore [--config streamdr.yaml] [--records N] [--size B]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


class Timed:
    """Wall-clock seconds and CPU seconds (all threads, librdkafka's included) of a block.

    CPU time is much less sensitive than wall-clock time to other load on the machine.
    """

    def __enter__(self) -> Timed:
        self.start = time.perf_counter()
        self.usage = resource.getrusage(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc: object) -> None:
        end = resource.getrusage(resource.RUSAGE_SELF)
        self.seconds = time.perf_counter() - self.start
        self.cpu = end.ru_utime + end.ru_stime - self.usage.ru_utime - self.usage.ru_stime

    def figures(self) -> dict[str, float]:
        """Return seconds and cpu_seconds."""
        return {"seconds": self.seconds, "cpu_seconds": round(self.cpu, 2)}


def _settings(config: str | None) -> Any:
    from streamdr.settings import load_settings

    return load_settings(Path(config) if config else None)


def _payloads(size: int, count: int = 4096) -> list[bytes]:
    rng = random.Random(42)
    out = []
    for i in range(count):
        doc = json.dumps(
            {
                "op": "u",
                "table": "retail.orders",
                "id": i,
                "amount": round(rng.uniform(1, 5000), 2),
                "customer": rng.getrandbits(64),
                "status": rng.choice(["new", "paid", "shipped", "returned"]),
            }
        ).encode()
        filler = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))
        out.append((doc + b" " + filler)[:size])
    return out


def phase_produce(args: argparse.Namespace) -> dict[str, Any]:
    """Produce the records with the restore's producer settings; return the timing."""
    from streamdr.kafka.clients import make_producer
    from streamdr.restore.produce import PRODUCER_SETTINGS

    settings = _settings(args.config)
    _, site = settings.site(args.site)
    conf = {k: v for k, v in PRODUCER_SETTINGS.items() if k != "delivery.report.only.error"}
    errors: list[Any] = []

    def on_error(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    producer = make_producer(
        site, on_delivery=on_error, **{**conf, "delivery.report.only.error": True}
    )
    payloads = _payloads(args.size)
    with Timed() as t:
        _produce_all(producer, args, payloads)
        left = producer.flush(300)
    assert left == 0 and not errors, (left, errors[:3])
    return {**t.figures(), "records": args.records}


def _produce_all(producer: Any, args: argparse.Namespace, payloads: list[bytes]) -> None:
    n, parts = args.records, args.partitions
    ts = int(time.time() * 1000)
    for i in range(n):
        while True:
            try:
                producer.produce(
                    args.topic,
                    payloads[i % len(payloads)],
                    b"key-%d" % i,
                    partition=i % parts,
                    timestamp=ts,
                    headers=[("event-id", uuid.UUID(int=i).bytes)],
                )
                break
            except BufferError:
                producer.poll(0.05)
        if i % 5000 == 0:
            producer.poll(0)


def phase_consume(args: argparse.Namespace) -> dict[str, Any]:
    """Consume the whole topic with the backup's consumer settings; return the timing."""
    from confluent_kafka import TopicPartition

    from streamdr.kafka.admin import KafkaAdmin
    from streamdr.kafka.clients import make_consumer

    settings = _settings(args.config)
    name, site = settings.site(args.site)
    ends = KafkaAdmin(name, site).end_offsets(args.topic)
    consumer = make_consumer(
        site,
        f"bench-consume-{uuid.uuid4().hex[:6]}",
        **{
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "fetch.max.bytes": 16 << 20,
            "queued.max.messages.kbytes": 32 << 10,
        },
    )
    todo, count, nbytes = set(ends), 0, 0
    with Timed() as t:
        consumer.assign([TopicPartition(args.topic, p, 0) for p in ends])
        while todo:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error() is not None:
                    todo.discard(msg.partition())
                    continue
                value = msg.value()
                nbytes += len(value) if value else 0
                count += 1
                if args.all_fields:  # what any backup must read from each record
                    msg.key(), msg.headers(), msg.timestamp(), msg.offset()
    consumer.close()
    return {**t.figures(), "records": count, "value_bytes": nbytes}


def phase_backup(args: argparse.Namespace) -> dict[str, Any]:
    """Back the topic up into ``args.store_dir``; return the timing and output size."""
    from streamdr.backup.service import BackupOptions, BackupService
    from streamdr.backup.store import BackupStore
    from streamdr.objectstore.store import ObjectStore
    from streamdr.settings.model import StoreSettings
    from streamdr.store.db import MetadataStore

    settings = _settings(args.config)
    name, _ = settings.site(args.site)
    store = BackupStore(ObjectStore("bench", StoreSettings(url=args.store_dir)), "bench")
    service = BackupService(
        settings,
        MetadataStore.from_settings(settings),
        [store],
        BackupOptions(name, topics_regex=args.topic.replace(".", r"\.")),
    )
    with Timed() as t:
        summary = service.run()
    return {
        **t.figures(),
        "records": summary.records,
        "files": summary.files,
        "file_bytes": summary.bytes,
    }


def phase_restore(args: argparse.Namespace) -> dict[str, Any]:
    """Restore the backup into a new topic (with read-back verification); return timings."""
    from datetime import datetime

    from streamdr.backup.store import BackupStore
    from streamdr.objectstore.store import ObjectStore
    from streamdr.restore.executor import RestoreExecutor
    from streamdr.restore.plan import RestoreRequest
    from streamdr.settings.model import StoreSettings
    from streamdr.store.db import MetadataStore

    settings = _settings(args.config)
    name, _ = settings.site(args.site)
    store = BackupStore(ObjectStore("bench", StoreSettings(url=args.store_dir)), "bench")
    executor = RestoreExecutor(settings, MetadataStore.from_settings(settings), store)
    request = RestoreRequest(topic=args.source, to_site=name, to_topic=args.topic)
    with Timed() as t:
        result = executor.execute(executor.prepare(request))
    steps = {s["name"]: s for s in result.steps}

    def took(step: str) -> float:
        s = steps[step]
        return (
            datetime.fromisoformat(s["finished_at"]) - datetime.fromisoformat(s["started_at"])
        ).total_seconds()

    assert result.verified, "restore verification failed"
    return {
        **t.figures(),
        "records": sum(o.planned for o in result.outcomes),
        "produce_phase_seconds": took("produce records"),
        "verify_phase_seconds": took("read back and verify"),
    }


def phase_consume_all(args: argparse.Namespace) -> dict[str, Any]:
    """Consume like :func:`phase_consume`, also reading key, headers, timestamp and offset."""
    args.all_fields = True
    return phase_consume(args)


PHASES = {
    "produce": phase_produce,
    "consume": phase_consume,
    "consume_all_fields": phase_consume_all,
    "backup": phase_backup,
    "restore": phase_restore,
}


def run_phase(args: argparse.Namespace, name: str, topic: str, **extra: str) -> dict[str, Any]:
    """Run one phase in a fresh process and return its figures (with its peak RSS)."""
    cmd = [sys.executable, str(HERE), "--phase", name, "--topic", topic]
    cmd += ["--records", str(args.records), "--size", str(args.size)]
    cmd += ["--partitions", str(args.partitions)]
    for key, value in {"config": args.config, "site": args.site, **extra}.items():
        if value:
            cmd += [f"--{key.replace('_', '-')}", value]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{done.stderr[-3000:]}")
    return rates(json.loads(done.stdout.strip().splitlines()[-1]), args.size)


def rates(doc: dict[str, Any], size: int) -> dict[str, Any]:
    """Return the phase with records/s and MB/s (record value bytes, 10^6 per MB) added."""
    rps = doc["records"] / doc["seconds"]
    return {**doc, "records_per_s": round(rps), "mb_per_s": round(rps * size / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config")
    parser.add_argument("--site")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--phase", choices=sorted(PHASES))
    parser.add_argument("--topic")
    parser.add_argument("--source")
    parser.add_argument("--store-dir")
    args = parser.parse_args()
    args.all_fields = False
    if args.phase:
        doc = PHASES[args.phase](args)
        doc["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(doc))
        return
    from bench.report import emit  # phases run as plain scripts and never need it

    result = orchestrate(args)
    emit("backup_restore", result, markdown_of(result))


def markdown_of(r: dict[str, Any]) -> str:
    """Return the generated docs/benchmarks.md section: medians of this run's rounds."""
    from statistics import median

    def med(phase: str, key: str) -> float:
        return median(float(x[phase][key]) for x in r["rounds"])

    rows = "\n".join(
        f"| {label} | {med(phase, 'records_per_s'):,.0f} | {med(phase, 'mb_per_s'):.1f} |"
        for label, phase in (
            ("raw consume (baseline)", "consume"),
            ("backup", "backup"),
            ("raw produce (baseline)", "produce"),
            ("restore incl. read-back", "restore"),
        )
    )
    ratios = r["median_ratios"]
    return f"""## Backup and restore — latest `make bench` run

{r["records"]:,} records of {r["record_bytes"]} B, {r["partitions"]} partitions, \
{r["repeats"]} round(s), median of the rounds; load average before / after: \
{r["load_average_before"][0]} / {r["load_average_after"][0]}.

| phase | records/s | MB/s |
|---|---|---|
{rows}

Ratios (median): backup / raw consume **{ratios["backup_vs_raw_consume"]}**, restore / raw
produce **{ratios["restore_vs_raw_produce"]}** (goal {r["goal"]}). The analysis above is from
the six-round runs."""


def _create(admin: Any, topic: str, partitions: int) -> None:
    from streamdr.kafka.admin import TopicSpec

    brokers = len(admin.metadata().brokers)
    admin.create_topics([TopicSpec(topic, partitions, min(3, brokers), {"retention.ms": "-1"})])
    admin.wait_until(lambda md: topic in md.topics, timeout=30, what=topic)
    time.sleep(2)


def _one_round(args: argparse.Namespace, admin: Any, source: str, r: int) -> dict[str, Any]:
    """Run consume, backup, raw produce, restore back to back (pairs see the same load)."""
    store_dir = tempfile.mkdtemp(prefix="streamdr-bench-")
    raw, restored = f"{source}.raw{r}", f"{source}.restored{r}"
    try:
        out = {
            "consume": run_phase(args, "consume", source),
            "consume_all_fields": run_phase(args, "consume_all_fields", source),
            "backup": run_phase(args, "backup", source, store_dir=store_dir),
        }
        _create(admin, raw, args.partitions)
        out["produce"] = run_phase(args, "produce", raw)
        out["restore"] = run_phase(args, "restore", restored, source=source, store_dir=store_dir)
    finally:
        admin.delete_topics([t for t in (raw, restored) if admin.topic(t)])
        shutil.rmtree(store_dir, ignore_errors=True)
    res = out["restore"]
    produce_phase_rps = args.records / res["produce_phase_seconds"]
    out["ratios"] = {
        "backup_vs_raw_consume": round(
            out["backup"]["records_per_s"] / out["consume"]["records_per_s"], 3
        ),
        "restore_vs_raw_produce": round(res["records_per_s"] / out["produce"]["records_per_s"], 3),
        "restore_produce_phase_vs_raw_produce": round(
            produce_phase_rps / out["produce"]["records_per_s"], 3
        ),
        "backup_vs_raw_consume_all_fields": round(
            out["backup"]["records_per_s"] / out["consume_all_fields"]["records_per_s"], 3
        ),
        "backup_cpu_vs_raw_consume_cpu": round(
            out["backup"]["cpu_seconds"] / out["consume"]["cpu_seconds"], 2
        ),
        "restore_cpu_vs_raw_produce_cpu": round(
            res["cpu_seconds"] / out["produce"]["cpu_seconds"], 2
        ),
    }
    return out


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the source topic, run the rounds, clean up; return the result document."""
    from statistics import median

    from streamdr.kafka.admin import KafkaAdmin

    settings = _settings(args.config)
    name, site = settings.site(args.site)
    admin = KafkaAdmin(name, site)
    source = f"bench.backup-restore.{uuid.uuid4().hex[:8]}"
    load_before = os.getloadavg()
    _create(admin, source, args.partitions)
    try:
        fill = run_phase(args, "produce", source)
        rounds = [_one_round(args, admin, source, r) for r in range(args.repeats)]
    finally:
        admin.delete_topics([source])
    ratios = {k: median(r["ratios"][k] for r in rounds) for k in rounds[0]["ratios"]}
    return {
        "benchmark": "backup_restore",
        "records": args.records,
        "record_bytes": args.size,
        "partitions": args.partitions,
        "brokers": len(admin.metadata().brokers),
        "repeats": args.repeats,
        "median_ratios": ratios,
        "goal": 0.7,
        "fill_produce": fill,
        "rounds": rounds,
        "backup_bytes_per_record": round(rounds[0]["backup"]["file_bytes"] / args.records, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
