"""Replaying dead letters: re-deliver with the same idempotency keys, and remember the result.

The input record in the DLQ is decoded and transformed again with the workflow's *current*
transformation (after a rollback that is the fixed version), then delivered through the same
breaker-and-backoff path as the worker. Keys derive from the event id, so replaying something
the client already applied is a harmless duplicate. Each result is stored in the metadata DB;
by default a replay skips entries already replayed successfully.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from streamdr.artifacts.api import TransformV1
from streamdr.kafka.clients import make_producer
from streamdr.observe import metrics
from streamdr.pipeline.breaker import Breaker
from streamdr.pipeline.delivery import Deliverer, HttpSink, counts_against_endpoint
from streamdr.pipeline.dlq import DlqEntry, entry_from_message, select_entries, utcnow
from streamdr.pipeline.events import EVENT_ID_HEADER, header_map
from streamdr.pipeline.handler import prepare
from streamdr.pipeline.topics import read_topic
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import dlq_replays
from streamdr.workflows.model import Workflow


@dataclass
class ReplayReport:
    """What a replay did."""

    workflow: str
    selected: int = 0
    skipped_already_replayed: int = 0
    replayed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the report for JSON."""
        return {**self.__dict__, "ok": not self.failed}


def list_dlq(settings: Settings, workflow: Workflow) -> tuple[list[DlqEntry], int]:
    """Return the entries of the workflow's DLQ and how many records were not streamdr's."""
    site_name, site = settings.site()
    entries, foreign = [], 0
    for msg in read_topic(site_name, site, workflow.dlq_topic):
        try:
            entries.append(entry_from_message(msg))
        except ValueError:
            foreign += 1
    return entries, foreign


def replayed_ok(store: MetadataStore, workflow: str) -> set[tuple[int, int]]:
    """Return (partition, offset) of DLQ entries already replayed successfully."""
    query = select(dlq_replays.c.dlq_partition, dlq_replays.c.dlq_offset).where(
        dlq_replays.c.workflow == workflow, dlq_replays.c.ok.is_(True)
    )
    with store.begin() as conn:
        return {(r[0], r[1]) for r in conn.execute(query)}


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
) -> ReplayReport:
    """Re-deliver the selected DLQ entries and return the report.

    Raises UnreachableError when Kafka or the metadata DB is down.
    """
    entries, _ = list_dlq(settings, workflow)
    chosen = select_entries(entries, since, ids)
    done = set() if again else replayed_ok(store, workflow.name)
    todo = [e for e in chosen if (e.dlq_partition, e.dlq_offset) not in done]
    report = ReplayReport(workflow.name, len(chosen), len(chosen) - len(todo), dry_run=dry_run)
    if dry_run:
        report.replayed = [e.as_dict() for e in todo]
        return report
    send = _sender(settings, workflow, secret)
    for entry in todo:
        error = send(entry, transform)
        row = {**entry.as_dict(), "replay_error": error}
        (report.failed if error else report.replayed).append(row)
        _remember(store, workflow.name, entry, error)
        metrics.DLQ_REPLAYED.labels(workflow.name, "failed" if error else "ok").inc()
    return report


def _sender(settings: Settings, workflow: Workflow, secret: bytes | None) -> Any:
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

    return send


def _kafka_sender(settings: Settings, workflow: Workflow) -> Any:
    _, site = settings.site()
    producer = make_producer(site)

    def send(entry: DlqEntry, transform: TransformV1) -> str | None:
        deliveries, failure = prepare(entry.value, header_map(entry.headers), transform)
        if failure is not None:
            return f"{failure.stage}: {failure.error}"
        for d in deliveries:
            producer.produce(
                workflow.sink.topic or "",
                key=d.key.encode() if d.key else entry.key,
                value=d.body,
                headers=[(EVENT_ID_HEADER, d.idempotency_key.encode())],
            )
        left = producer.flush(30)
        return f"deliver: {left} records unacknowledged" if left else None

    return send


def _remember(store: MetadataStore, workflow: str, entry: DlqEntry, error: str | None) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(dlq_replays).values(
                workflow=workflow,
                event_id=entry.event_id,
                dlq_partition=entry.dlq_partition,
                dlq_offset=entry.dlq_offset,
                replayed_at=utcnow(),
                ok=error is None,
                error=(error or "")[:2000] or None,
            )
        )
