"""One CDC reader cycle: what is produced again, and when, after a step fails.

A fake source and an in-memory producer stand in for PostgreSQL and Kafka; the order of the
steps (produce, checkpoint, advance the source) is the reader's own logic.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from streamdr.pipeline.cdc.reader import CdcReader
from streamdr.pipeline.cdc.source import SourceUnavailable
from streamdr.pipeline.events import SourceChange, SourceTransaction, topic_for
from streamdr.pipeline.topics import CHECKPOINT_TOPIC
from streamdr.settings.model import SiteSettings, SourceSettings

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def txn(end: int) -> SourceTransaction:
    change = SourceChange("public.items", "insert", {"id": end}, None, {"id": end}, 0)
    return SourceTransaction(f"0/{end:X}", end, T0, (change,))


class AckingProducer:
    """Acknowledges every record at flush; keeps (topic, key) of each."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self._waiting: list[Any] = []

    def produce(self, topic: str, key: Any = None, value: Any = None, **kw: Any) -> None:
        self.sent.append((topic, key))
        self._waiting.append(kw.get("on_delivery"))

    def flush(self, timeout: float = 0) -> int:
        for done in self._waiting:
            if done is not None:
                done(None, None)
        self._waiting = []
        return 0

    def poll(self, timeout: float = 0) -> int:
        return 0


class StreamedSource:
    """Holds transactions until acknowledged; the first acknowledgement can fail."""

    kind = "postgres"
    waits_for_changes = True

    def __init__(self, txns: list[SourceTransaction], *, ack_fails: bool) -> None:
        self.txns = txns
        self.ack_fails = ack_fails
        self.asked_after: list[int] = []
        self.acknowledged: list[int] = []
        self.seen_at_ack: list[str] = []  # topics produced when the acknowledgement came
        self.producer: AckingProducer | None = None

    def pending(self, after: int, limit: int) -> list[SourceTransaction]:
        self.asked_after.append(after)
        return [t for t in self.txns if t.end_position > after]

    def acknowledge(self, upto: int) -> None:
        if self.ack_fails:
            self.ack_fails = False
            raise SourceUnavailable("source 'items': server closed the connection")
        self.acknowledged.append(upto)
        if self.producer is not None:
            self.seen_at_ack = [t for t, _ in self.producer.sent]

    def format_position(self, position: int) -> str:
        return f"0/{position:X}"


def make_reader(source: StreamedSource, producer: AckingProducer) -> CdcReader:
    settings = SourceSettings(kind="postgres", dsn="dbname=x", topic_prefix="t")
    site = SiteSettings(bootstrap_servers="127.0.0.1:1")
    reader = CdcReader(
        "items",
        settings,
        source,
        "primary",
        site,
        producer,
        threading.Event(),  # type: ignore[arg-type]
    )
    reader._topics = {topic_for("t", "public.items")}  # no admin calls: the topic exists
    return reader


def changes_sent(producer: AckingProducer) -> int:
    return sum(1 for topic, _ in producer.sent if topic != CHECKPOINT_TOPIC)


def test_a_checkpointed_batch_is_not_produced_again_when_advancing_the_source_fails():
    source = StreamedSource([txn(100), txn(200)], ack_fails=True)
    producer = AckingProducer()
    reader = make_reader(source, producer)
    with pytest.raises(SourceUnavailable):
        reader.cycle()
    assert reader.status.position == 200  # the checkpoint is in Kafka
    assert reader.cycle() == 0  # the retry asks after the checkpoint: nothing to produce again
    assert source.asked_after == [0, 200]
    assert changes_sent(producer) == 2


def test_the_source_advances_only_after_the_checkpoint_is_acknowledged():
    source = StreamedSource([txn(100)], ack_fails=False)
    producer = AckingProducer()
    source.producer = producer
    reader = make_reader(source, producer)
    assert reader.cycle() == 1
    assert source.acknowledged == [100]
    assert source.seen_at_ack == [topic_for("t", "public.items"), CHECKPOINT_TOPIC]
