"""Running a CDC reader as a process, and its status for `cdc status`."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import make_producer
from streamdr.pipeline.cdc.checkpoint import CheckpointWriter, read_checkpoint
from streamdr.pipeline.cdc.reader import LAG_ALERT_S, CdcReader
from streamdr.pipeline.cdc.source import SourceUnavailable, get_source_settings, open_source
from streamdr.pipeline.health import HealthServer
from streamdr.pipeline.topics import checkpoint_want, ensure_topics
from streamdr.settings.model import Settings

PRODUCER = {
    "linger.ms": 10,
    "compression.type": "lz4",
    "message.timeout.ms": 30000,
    "partitioner": "murmur2_random",  # same partition for a key as Java clients
}


def build_reader(
    settings: Settings, name: str, stop: threading.Event, site_name: str | None = None
) -> CdcReader:
    """Return the reader of source ``name`` (nothing connects yet); raises InputError.

    It writes to ``site_name`` when given (a failover moves CDC to the surviving site), else to
    the source's configured site, else to the active one.
    """
    source_settings = get_source_settings(settings, name)
    site_name, site = settings.site(site_name or source_settings.site)
    source = open_source(name, source_settings, settings.base_dir())
    producer = make_producer(site, **PRODUCER)
    others = {n: s for n, s in settings.sites.items() if n != site_name}
    return CdcReader(
        name, source_settings, source, site_name, site, producer, stop, other_sites=others
    )


def run_cdc(reader: CdcReader, stop: threading.Event, port: int | None) -> None:
    """Run ``reader`` until ``stop``; serve /health, /ready, /metrics on ``port`` if given."""
    server = None
    if port is not None:
        server = HealthServer(lambda: _probe(reader, stop), port=port).start()
    try:
        reader.run()
    finally:
        reader.producer.flush(30)
        reader.source.close()
        if server is not None:
            server.close()


def _probe(reader: CdcReader, stop: threading.Event) -> dict[str, Any]:
    doc = reader.status.as_dict()
    return {**doc, "alive": not stop.is_set(), "ready": doc["source_up"]}


def cdc_status(settings: Settings, name: str, site_name: str | None = None) -> dict[str, Any]:
    """Return the checkpoint, what is pending at the source, the lag and whether it alerts.

    Raises InputError for an unknown source, UnreachableError when Kafka is down; an
    unreachable source database is reported, not raised.
    """
    src = get_source_settings(settings, name)
    site_name, site = settings.site(site_name or src.site)
    checkpoint = read_checkpoint(site_name, site, name)
    source = open_source(name, src, settings.base_dir())
    now = datetime.now(UTC)
    doc: dict[str, Any] = {
        "source": name,
        "kind": src.kind,
        "site": site_name,
        "checkpoint": checkpoint.__dict__ if checkpoint else None,
    }
    try:
        _pending_into(doc, source, checkpoint.position if checkpoint else 0, now)
    except SourceUnavailable as exc:
        doc.update(source_reachable=False, pending=None, error=str(exc))
        cp_time = checkpoint.commit_datetime() if checkpoint else None
        doc["lag_seconds"] = round((now - cp_time).total_seconds(), 3) if cp_time else None
    finally:
        source.close()
    lag = doc["lag_seconds"]
    doc["alert"] = (lag is not None and lag > LAG_ALERT_S) or not doc["source_reachable"]
    doc["lag_alert_threshold_seconds"] = LAG_ALERT_S
    return doc


def _pending_into(doc: dict[str, Any], source: Any, after: int, now: datetime) -> None:
    """Fill ``pending`` and ``lag_seconds``: peeked when the source is free, else (a reader
    streams the slot) the walsender's flush lag. Raises SourceUnavailable."""
    try:
        pending = _peek_one(source, after)
    except SourceUnavailable as exc:
        streaming = source.stream_lag() if "in use" in str(exc) else None
        if streaming is None:
            raise
        doc.update(source_reachable=True, pending=None, streaming=streaming)
        doc["lag_seconds"] = round(float(streaming["flush_lag_seconds"]), 3)
        return
    doc["source_reachable"] = True
    doc["pending"] = bool(pending)
    oldest = pending[0].commit_time if pending else None
    doc["lag_seconds"] = round((now - oldest).total_seconds(), 3) if oldest else 0.0


def _peek_one(source: Any, after: int) -> list[Any]:
    """Return the first pending transaction; a reader may hold the slot briefly (a
    streaming reader holds it for good: then this raises SourceUnavailable "in use")."""
    for attempt in range(3):
        try:
            return list(source.peek(after, 1))
        except SourceUnavailable as exc:
            if "in use" not in str(exc) or attempt == 2:
                raise
            time.sleep(0.2)
    return []


def reset_checkpoint(settings: Settings, name: str) -> None:
    """Delete the source's checkpoint (a tombstone); the next run starts from a new slot."""
    src = get_source_settings(settings, name)
    site_name, site = settings.site(src.site)

    ensure_topics(KafkaAdmin(site_name, site), [checkpoint_want()])
    producer = make_producer(site)
    CheckpointWriter(producer).write(None, name)
