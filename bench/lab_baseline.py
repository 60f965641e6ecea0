"""Raw confluent-kafka throughput on the lab: the denominator of every other benchmark.

Produces N records of S bytes (acks=all, idempotent) to a fresh 6-partition RF-3 topic and
consumes them all back, in records/s and MB/s; also times `lab up` for 2 sites x 3 nodes from a
fresh lab directory (jars already cached). Usage: python -m bench.lab_baseline [--records N]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import KafkaError

from bench.raw import produce_all
from bench.report import emit, peak_rss_mb
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.lab.cluster import Lab
from streamdr.settings import load_settings
from streamdr.settings.model import SiteSettings

PARTITIONS = 6


def produce(site: SiteSettings, topic: str, records: int, size: int) -> float:
    """Produce ``records`` values of ``size`` bytes; return seconds until all are acked."""
    producer = make_producer(
        site,
        **{
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "compression.type": "none",
        },
    )
    failed: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failed.append(err)

    value = b"v" * size
    start = time.perf_counter()
    produce_all(producer, topic, records, value, on_delivery)
    producer.flush(300)
    took = time.perf_counter() - start
    if failed:
        raise SystemExit(f"{len(failed)} records failed: {failed[0]}")
    return took


def consume(site: SiteSettings, topic: str, records: int) -> float:
    """Consume ``records`` from the start of ``topic``; return seconds taken."""
    consumer = make_consumer(
        site,
        f"bench-{uuid.uuid4().hex[:8]}",
        **{"fetch.max.bytes": 50_000_000, "max.partition.fetch.bytes": 10_000_000},
    )
    consumer.subscribe([topic])
    seen, start = 0, None
    deadline = time.monotonic() + 600
    while seen < records and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, timeout=1.0):
            if msg.error() is None:
                start = start or time.perf_counter()
                seen += 1
    took = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    if seen < records:
        raise SystemExit(f"consumed only {seen} of {records}")
    return took


def main() -> None:
    """Run the benchmark and report it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    logging.getLogger("streamdr.librdkafka").setLevel(logging.CRITICAL)
    work = Path(tempfile.mkdtemp(prefix="streamdr-bench-"))
    lab = Lab(work / "lab")
    try:
        start = time.perf_counter()
        lab.up()
        lab_up = time.perf_counter() - start
        site = load_settings(lab.settings_file).sites["primary"]
        topic = f"bench.baseline.{uuid.uuid4().hex[:8]}"
        KafkaAdmin("primary", site).create_topics([TopicSpec(topic, PARTITIONS, 3)])
        p_secs = produce(site, topic, args.records, args.size)
        c_secs = consume(site, topic, args.records)
    finally:
        lab.down(purge=True)
        shutil.rmtree(work, ignore_errors=True)
    mb = args.records * args.size / 1e6
    result = {
        "records": args.records,
        "record_bytes": args.size,
        "partitions": PARTITIONS,
        "lab_up_seconds": round(lab_up, 2),
        "produce_records_per_s": round(args.records / p_secs),
        "produce_mb_per_s": round(mb / p_secs, 1),
        "consume_records_per_s": round(args.records / c_secs),
        "consume_mb_per_s": round(mb / c_secs, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    r = result
    rows = (
        f"| produce (acks=all, idempotent) | {r['produce_records_per_s']:,} "
        f"| {r['produce_mb_per_s']} |\n"
        f"| consume | {r['consume_records_per_s']:,} | {r['consume_mb_per_s']} |"
    )
    markdown = f"""## Lab baseline (raw confluent-kafka)

`bench/lab_baseline.py`: {args.records:,} records of {args.size} B, topic with {PARTITIONS}
partitions, RF 3, min ISR 2; producer acks=all + idempotent; one consumer process.

| measure | records/s | MB/s |
|---|---|---|
{rows}

`lab up` for 2 sites x 3 nodes from an empty lab directory (jars cached): {lab_up:.1f} s.
This is the denominator later benchmarks divide by."""
    emit("lab_baseline", result, markdown)


if __name__ == "__main__":
    main()
