"""Replaying dead letters: re-deliver with the same idempotency keys, and remember the result.

The input record in the DLQ is decoded and transformed again with the workflow's *current*
transformation (after a rollback that is the fixed version), then delivered through the same
breaker-and-backoff path as the worker. Keys derive from the event id, so replaying something
the client already applied is a harmless duplicate. Each result is stored in the metadata DB;
by default a replay skips entries already replayed successfully.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from sqlalchemy import insert, select

from streamdr.artifacts.api import TransformV1
from streamdr.clock import utcnow
from streamdr.kafka.clients import make_producer, translate
from streamdr.observe import metrics
from streamdr.pipeline.breaker import Breaker
from streamdr.pipeline.delivery import Deliverer, HttpSink, counts_against_endpoint
from streamdr.pipeline.dlq import DlqEntry, DlqReader, wanted
from streamdr.pipeline.dlq_paging import BatchPolicy, Cursor, group_offsets
from streamdr.pipeline.events import EVENT_ID_HEADER, header_map
from streamdr.pipeline.handler import prepare
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import dlq_replays
from streamdr.workflows.model import Workflow

MAX_REPORTED_FAILURES = 100


@dataclass
class ReplayReport:
    """What a replay did: counts, and the first failures (all are in the metadata DB)."""

    workflow: str
    selected: int = 0
    skipped_already_replayed: int = 0
    replayed: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    foreign_records: int = 0
    batches: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the report for JSON."""
        return {**self.__dict__, "ok": not self.failed}

    def add_failure(self, row: dict[str, Any]) -> None:
        """Count a failure; keep its row while fewer than MAX_REPORTED_FAILURES are kept."""
        self.failed += 1
        if len(self.failures) < MAX_REPORTED_FAILURES:
            self.failures.append(row)


def open_dlq(
    settings: Settings, workflow: Workflow, start: Cursor | None = None, idle_timeout: float = 30.0
) -> DlqReader:
    """Return a DlqReader (a context manager) over the workflow's DLQ on the active site."""
    site_name, site = settings.site()
    return DlqReader(site_name, site, workflow.dlq_topic, start=start, idle_timeout=idle_timeout)


def list_dlq(settings: Settings, workflow: Workflow) -> tuple[list[DlqEntry], int]:
    """Return all entries of the workflow's DLQ and how many records were not streamdr's.

    Holds every entry in memory: for small DLQs (drills, tests); page with DlqReader otherwise.
    """
    entries, foreign = [], 0
    with open_dlq(settings, workflow) as reader:
        for record in reader.records():
            if record.entry is None:
                foreign += 1
            else:
                entries.append(record.entry)
    return entries, foreign


def replayed_among(
    store: MetadataStore, workflow: str, positions: list[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Return which of the (partition, offset) DLQ positions were already replayed successfully.

    One query per partition over the span of the given offsets, so a page costs the same
    whatever the size of the DLQ.
    """
    wanted_positions = set(positions)
    found: set[tuple[int, int]] = set()
    with store.begin() as conn:
        for partition, (lo, hi) in group_offsets(positions).items():
            query = select(dlq_replays.c.dlq_offset).where(
                dlq_replays.c.workflow == workflow,
                dlq_replays.c.ok.is_(True),
                dlq_replays.c.dlq_partition == partition,
                dlq_replays.c.dlq_offset.between(lo, hi),
            )
            found |= {(partition, r[0]) for r in conn.execute(query)}
    return found & wanted_positions


def replay(
    settings: Settings,
    store: MetadataStore,
    workflow: Workflow,
    transform: TransformV1,
    secret: bytes | None,
    *,
    since: datetime | None = None,
    ids: set[str] | None = None,
    again: bool = False,
    dry_run: bool = False,
    policy: BatchPolicy | None = None,
    idle_timeout: float = 30.0,
) -> ReplayReport:
    """Re-deliver the selected DLQ entries in bounded batches and return the report.

    Each batch is recorded in the metadata DB (one transaction) once its deliveries are
    acknowledged, so an interrupted replay resumes after the last recorded batch; at most one
    batch is sent again, with the same idempotency keys. Raises UnreachableError when Kafka or
    the metadata DB is down.
    """
    report = ReplayReport(workflow.name, dry_run=dry_run)
    send = None if dry_run else _sender(settings, workflow, secret)
    batch = _Batch(policy or BatchPolicy())
    with open_dlq(settings, workflow, idle_timeout=idle_timeout) as reader:
        for record in reader.records():
            if record.entry is None:
                report.foreign_records += 1
            elif wanted(record.entry, since, ids):
                report.selected += 1
                batch.add(record.entry)
            if batch.full():
                _replay_batch(store, workflow.name, transform, send, batch.take(), report, again)
    if batch.entries:
        _replay_batch(store, workflow.name, transform, send, batch.take(), report, again)
    return report


class _Batch:
    """Selected entries waiting to be replayed, closed by size or age (BatchPolicy)."""

    def __init__(self, policy: BatchPolicy) -> None:
        self.policy = policy
        self.entries: list[DlqEntry] = []
        self.started = 0.0

    def add(self, entry: DlqEntry) -> None:
        if not self.entries:
            self.started = time.monotonic()
        self.entries.append(entry)

    def full(self) -> bool:
        return self.policy.full(len(self.entries), self.started, time.monotonic())

    def take(self) -> list[DlqEntry]:
        taken, self.entries = self.entries, []
        return taken


def _replay_batch(
    store: MetadataStore,
    workflow: str,
    transform: TransformV1,
    send: Sender | None,
    batch: list[DlqEntry],
    report: ReplayReport,
    again: bool,
) -> None:
    positions = [(e.dlq_partition, e.dlq_offset) for e in batch]
    done = set() if again else replayed_among(store, workflow, positions)
    todo = [e for e in batch if (e.dlq_partition, e.dlq_offset) not in done]
    report.skipped_already_replayed += len(batch) - len(todo)
    report.batches += 1
    if send is None:  # dry run: count what would go
        report.replayed += len(todo)
        return
    errors = send(todo, transform) if todo else []
    _remember(store, workflow, list(zip(todo, errors, strict=True)))
    for entry, error in zip(todo, errors, strict=True):
        if error:
            report.add_failure({**entry.as_dict(), "replay_error": error})
        else:
            report.replayed += 1
        metrics.DLQ_REPLAYED.labels(workflow, "failed" if error else "ok").inc()


Sender = Callable[[list[DlqEntry], TransformV1], list[str | None]]


def _sender(settings: Settings, workflow: Workflow, secret: bytes | None) -> Sender:
    """Return a function replaying a batch and returning each entry's error (None when ok)."""
    if workflow.sink.kind == "kafka":
        return _kafka_sender(settings, workflow)
    sink = HttpSink(workflow, secret)
    breaker = Breaker(
        workflow.breaker.failure_threshold,
        workflow.breaker.reset_timeout_seconds,
        counts=counts_against_endpoint,
    )
    deliverer = Deliverer(workflow, sink.send, breaker, lambda s: time.sleep(s) or True)

    def send(entry: DlqEntry, transform: TransformV1) -> str | None:
        deliveries, failure = prepare(entry.value, header_map(entry.headers), transform)
        if failure is not None:
            return f"{failure.stage}: {failure.error}"
        for delivery in deliveries:
            outcome = deliverer.deliver(delivery)
            if not outcome.delivered:
                return f"deliver: {outcome.error} after {outcome.attempts} attempts"
        return None

    return lambda batch, transform: [send(entry, transform) for entry in batch]


def _kafka_sender(settings: Settings, workflow: Workflow) -> Sender:
    site_name, site = settings.site()
    producer = make_producer(site)
    topic = workflow.sink.topic or ""

    def send_batch(batch: list[DlqEntry], transform: TransformV1) -> list[str | None]:
        # One flush per batch, not per entry: the acks of a whole batch are awaited together.
        errors: list[str | None] = [None] * len(batch)
        try:
            for i, entry in enumerate(batch):
                errors[i] = _produce_entry(producer, topic, entry, transform, errors, i)
            left = producer.flush(30)
        except KafkaException as exc:
            raise translate(exc, site_name, site, f"replaying into {topic}") from exc
        if left:
            return [e or f"deliver: {left} records of the batch unacknowledged" for e in errors]
        return errors

    return send_batch


def _produce_entry(
    producer: Producer,
    topic: str,
    entry: DlqEntry,
    transform: TransformV1,
    errors: list[str | None],
    index: int,
) -> str | None:
    """Produce the deliveries of one entry; return its decode/transform error, if any."""
    deliveries, failure = prepare(entry.value, header_map(entry.headers), transform)
    if failure is not None:
        return f"{failure.stage}: {failure.error}"

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors[index] = f"deliver: {err.str()}"

    for d in deliveries:
        producer.produce(
            topic,
            key=d.key.encode() if d.key else entry.key,
            value=d.body,
            headers=[(EVENT_ID_HEADER, d.idempotency_key.encode())],
            on_delivery=on_delivery,
        )
    return None


def _remember(
    store: MetadataStore, workflow: str, results: list[tuple[DlqEntry, str | None]]
) -> None:
    """Record a batch's results in one transaction (after its deliveries were acknowledged)."""
    if not results:
        return
    now = utcnow()
    rows = [
        {
            "workflow": workflow,
            "event_id": entry.event_id,
            "dlq_partition": entry.dlq_partition,
            "dlq_offset": entry.dlq_offset,
            "replayed_at": now,
            "ok": error is None,
            "error": (error or "")[:2000] or None,
        }
        for entry, error in results
    ]
    with store.begin() as conn:
        conn.execute(insert(dlq_replays), rows)
