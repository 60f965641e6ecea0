"""The raw confluent-kafka produce loop every benchmark's baseline shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer


def produce_all(
    producer: Producer,
    topic: str,
    records: int,
    value: bytes,
    on_delivery: Callable[[Any, Any], None] | None = None,
) -> None:
    """Produce ``records`` copies of ``value`` keyed by their index, as fast as the queue allows.

    Waits on a full local queue (BufferError) instead of dropping; the caller flushes.
    """
    extra = {"on_delivery": on_delivery} if on_delivery else {}
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value, key=str(i).encode(), **extra)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)  # serve delivery callbacks while the loop runs
