"""Helpers for backup/restore tests: create topics, produce exact records, read them back."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import TopicPartition as KafkaTP

from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.settings import Settings

Rec = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None, int]


def create_topic(
    settings: Settings, name: str, partitions: int, config: dict | None = None
) -> None:
    site_name, site = settings.site()
    admin = KafkaAdmin(site_name, site)
    admin.create_topics([TopicSpec(name, partitions, 3, config or {})])
    admin.wait_until(
        lambda md: (
            name in md.topics
            and len(md.topics[name].partitions) == partitions
            and all(not p.offline for p in md.topics[name].partitions)
        ),
        timeout=30,
        what=name,
    )
    deadline = time.monotonic() + 30
    while True:  # list_offsets may fail until every broker knows the topic
        try:
            admin.end_offsets(name)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def odd_record(i: int, ts: int) -> Rec:
    """Return record ``i``: null keys, tombstones, empty values, binary and repeated headers."""
    key = None if i % 5 == 0 else (b"" if i % 17 == 0 else f"key-{i}".encode())
    value = None if i % 7 == 0 else bytes((i * 31 + j) % 256 for j in range(i % 97))
    if i % 4 == 0:
        headers = None
    elif i % 4 == 1:
        headers = [("id", str(i).encode()), ("id", b"\x00\xff\x00"), ("null", None)]
    else:
        headers = [("bin", bytes(range(i % 16))), ("empty", b"")]
    return key, value, headers, ts


def produce(
    settings: Settings, topic: str, records: list[tuple[int, Rec]], transactional: bool = False
) -> dict[int, list[tuple[int, Rec]]]:
    """Produce ``(partition, record)`` pairs; return acked ``(offset, record)`` by partition."""
    _, site = settings.site()
    extra: dict[str, Any] = {"linger.ms": 5}
    if transactional:
        extra["transactional.id"] = f"tx-{topic}"
    producer = make_producer(site, **extra)
    acked: dict[int, list[tuple[int, Rec]]] = {}
    if transactional:
        producer.init_transactions(30)
    for n, (partition, rec) in enumerate(records):
        if transactional and n % 50 == 0:
            if n:
                producer.commit_transaction(30)
            producer.begin_transaction()

        def done(err: Any, msg: Any, rec: Rec = rec) -> None:
            assert err is None, err
            acked.setdefault(msg.partition(), []).append((msg.offset(), rec))

        key, value, headers, ts = rec
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    key,
                    partition=partition,
                    timestamp=ts,
                    headers=headers,
                    on_delivery=done,
                )
                break
            except BufferError:
                producer.poll(0.1)
        if n % 1000 == 0:
            producer.poll(0)
    if transactional:
        producer.commit_transaction(30)
    assert producer.flush(60) == 0
    return {p: sorted(v) for p, v in acked.items()}


def read_topic(settings: Settings, topic: str, partitions: int) -> dict[int, list[tuple[int, Rec]]]:
    """Return every record of ``topic`` by partition as ``(offset, record)``."""
    _, site = settings.site()
    consumer = make_consumer(
        site, f"read-{topic}-{time.monotonic_ns()}", **{"enable.partition.eof": True}
    )
    consumer.assign([KafkaTP(topic, p, 0) for p in range(partitions)])
    out: dict[int, list[tuple[int, Rec]]] = {p: [] for p in range(partitions)}
    done: set[int] = set()
    deadline = time.monotonic() + 60
    try:
        while len(done) < partitions and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                done.add(msg.partition())
                continue
            ts_type, ts = msg.timestamp()
            assert ts_type == 1, "restored records must carry CreateTime"
            out[msg.partition()].append((msg.offset(), (msg.key(), msg.value(), msg.headers(), ts)))
    finally:
        consumer.close()
    return out


def records_only(by_partition: dict[int, list[tuple[int, Rec]]]) -> dict[int, list[Rec]]:
    """Drop offsets (they differ after a restore)."""
    return {p: [r for _o, r in v] for p, v in by_partition.items()}
