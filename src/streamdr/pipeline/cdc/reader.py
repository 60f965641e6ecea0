"""The CDC reader: source → Kafka (acks=all) → checkpoint → only then advance the source.

One cycle: read whole committed transactions after the checkpoint, produce every change to
``<prefix>.<schema>.<table>`` keyed by its primary key with the event-id header, flush and check
every acknowledgement, write the checkpoint, then acknowledge the source (slot advance). A crash
anywhere re-reads from the last checkpoint; the re-produced records carry the same event ids,
so delivery downstream applies them once. Failures retry with exponential backoff (stamina);
when the retries are exhausted the reader raises an alert and keeps trying.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stamina
from confluent_kafka import KafkaError, Message, Producer

from streamdr.errors import UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.observe import metrics
from streamdr.pipeline.cdc.checkpoint import (
    Checkpoint,
    CheckpointWriter,
    checkpoints_elsewhere,
    newest_past,
    read_checkpoint,
)
from streamdr.pipeline.cdc.source import ChangeSource, SourceUnavailable
from streamdr.pipeline.dlq import Coordinates, DeadLetter, dead_letter_record
from streamdr.pipeline.events import (
    SourceChange,
    SourceTransaction,
    encode_event,
    to_change_event,
    topic_for,
)
from streamdr.pipeline.topics import TopicWant, checkpoint_want, dlq_want, ensure_topics
from streamdr.settings.model import SiteSettings, SourceSettings

log = logging.getLogger(__name__)
ALERT_MARK = "ALERT "  # starts every alert line in the log; drills collect them by it
LAG_ALERT_S = 600.0  # Appendix A: alert if CDC lag > 10 minutes
RETRY_ATTEMPTS = 8
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 10.0


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge every record of a cycle (retried with backoff)."""


@dataclass
class ReaderStatus:
    """What the reader reports on /ready, in `cdc status` and as metrics."""

    source: str
    position: int | None = None
    position_text: str | None = None
    commit_time: datetime | None = None
    caught_up_at: datetime | None = None
    source_up: bool = False
    changes: int = 0
    dead_letters: int = 0
    last_error: str | None = None
    alerts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lag_seconds(self, now: datetime) -> float:
        """Return now minus the time up to which every committed change is in Kafka."""
        marks = [t for t in (self.commit_time, self.caught_up_at) if t is not None]
        return max(0.0, (now - max(marks)).total_seconds()) if marks else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the status for JSON."""
        now = datetime.now(UTC)
        return {
            "source": self.source,
            "position": self.position_text,
            "commit_time": self.commit_time.isoformat() if self.commit_time else None,
            "lag_seconds": round(self.lag_seconds(now), 3),
            "source_up": self.source_up,
            "changes": self.changes,
            "dead_letters": self.dead_letters,
            "last_error": self.last_error,
            "alerts": self.alerts[-10:],
            "notes": self.notes[-10:],
        }


class CdcReader:
    """Streams one source's committed changes into Kafka until ``stop`` is set."""

    def __init__(
        self,
        name: str,
        settings: SourceSettings,
        source: ChangeSource,
        site_name: str,
        site: SiteSettings,
        producer: Producer,
        stop: threading.Event,
        *,
        batch_changes: int = 2000,
        idle_wait: float = 0.1,
        other_sites: Mapping[str, SiteSettings] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.source = source
        self.site_name, self.site = site_name, site
        self.other_sites = dict(other_sites or {})
        self.producer = producer
        self.stop = stop
        self.batch_changes = batch_changes
        self.idle_wait = idle_wait
        self.status = ReaderStatus(name)
        self.checkpoints = CheckpointWriter(producer)
        self.dlq_topic = f"{settings.topic_prefix}.dlq"
        self._topics: set[str] = set()
        self._position: int | None = None
        self._lag_alerted = False

    # ----- start-up ------------------------------------------------------------------------
    def start(self) -> None:
        """Create topics, read the checkpoint and align the source with it.

        Raises UnreachableError (Kafka), SourceUnavailable (database), StateError (slot lost).
        """
        admin = KafkaAdmin(self.site_name, self.site)
        ensure_topics(admin, [checkpoint_want(), dlq_want(self.dlq_topic)])
        checkpoint = read_checkpoint(self.site_name, self.site, self.name)
        tables = self.source.open()
        self._ensure_change_topics(tables)
        warning = self.source.resume_from(checkpoint.position if checkpoint else None)
        if warning and checkpoint is not None:
            self._behind_source(warning, checkpoint)
        elif warning:
            self._alert("checkpoint-behind-source", warning)
        if checkpoint is not None:
            self._position = checkpoint.position
            self.status.position, self.status.position_text = (
                checkpoint.position,
                checkpoint.position_text,
            )
            self.status.commit_time = checkpoint.commit_datetime()
        self.status.source_up = True
        metrics.CDC_SOURCE_UP.labels(self.name).set(1)
        log.info(
            "cdc %s: resuming after %s",
            self.name,
            checkpoint.position_text if checkpoint else "the start",
        )

    def _behind_source(self, warning: str, checkpoint: Checkpoint) -> None:
        """Alert that the source is past this site's checkpoint, unless another site explains it.

        The source only forgets a change after some site acknowledged it (checkpoint first), so
        when every other site answers, the newest checkpoint among them covers the source: the
        changes in between are on that site (a failback's usual state, replication copies them
        back). A site that does not answer may be the only holder: that is the alert.
        """
        found = checkpoints_elsewhere(self.other_sites, self.name)
        holder = None if found is None else newest_past(found, checkpoint.position)
        if holder is None:
            self._alert("checkpoint-behind-source", warning)
            return
        site, newest = holder
        note = (
            f"the source is past this site's checkpoint {checkpoint.position_text}; site {site} "
            f"answers and acknowledged the changes in between (its checkpoint: "
            f"{newest.position_text}), so they are not lost"
        )
        self.status.notes.append(f"{datetime.now(UTC).isoformat()} {note}")
        log.warning("cdc %s: %s", self.name, note)

    def _ensure_change_topics(self, tables: list[str]) -> None:
        wanted = [topic_for(self.settings.topic_prefix, t) for t in tables]
        missing = [t for t in wanted if t not in self._topics]
        if missing:
            ensure_topics(
                KafkaAdmin(self.site_name, self.site),
                [TopicWant(t, self.settings.partitions) for t in missing],
            )
            self._topics |= set(missing)

    # ----- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        """Start (with retries), then run cycles until stopped; failures back off and alert."""
        self._retrying(self.start)
        while not self.stop.is_set():
            moved = self._retrying(self.cycle)
            self._export_lag()
            if not moved and not self.source.waits_for_changes:
                self.stop.wait(self.idle_wait)

    def _retrying(self, step: Callable[[], Any]) -> Any:
        while not self.stop.is_set():
            try:
                for attempt in stamina.retry_context(
                    on=(SourceUnavailable, KafkaUnavailable, UnreachableError),
                    attempts=RETRY_ATTEMPTS,
                    timeout=None,
                    wait_initial=RETRY_INITIAL_S,
                    wait_max=RETRY_MAX_S,
                    wait_jitter=RETRY_INITIAL_S,
                ):
                    with attempt:
                        if self.stop.is_set():
                            return None
                        try:
                            return step()
                        except (SourceUnavailable, KafkaUnavailable, UnreachableError) as exc:
                            self._failed(exc)
                            raise
            except (SourceUnavailable, KafkaUnavailable, UnreachableError) as exc:
                self._alert("retries-exhausted", f"{RETRY_ATTEMPTS} attempts failed: {exc}")
        return None

    def _failed(self, exc: Exception) -> None:
        kind = "source" if isinstance(exc, SourceUnavailable) else "kafka"
        metrics.CDC_ERRORS.labels(self.name, kind).inc()
        self.status.last_error = str(exc)
        if kind == "source":
            self.status.source_up = False
            metrics.CDC_SOURCE_UP.labels(self.name).set(0)
        self._export_lag()
        log.warning("cdc %s: %s (retrying)", self.name, exc)

    def _alert(self, alert: str, detail: str) -> None:
        metrics.CDC_ALERTS.labels(self.name, alert).inc()
        self.status.alerts.append(f"{datetime.now(UTC).isoformat()} {alert}: {detail}")
        log.error("%scdc %s %s: %s", ALERT_MARK, self.name, alert, detail)

    def _export_lag(self) -> None:
        lag = self.status.lag_seconds(datetime.now(UTC))
        metrics.CDC_LAG.labels(self.name).set(lag)
        if lag > LAG_ALERT_S and not self._lag_alerted:
            self._alert("lag", f"{lag:.0f}s behind (threshold {LAG_ALERT_S:.0f}s)")
        self._lag_alerted = lag > LAG_ALERT_S

    def cycle(self) -> int:
        """Move one batch of transactions into Kafka; return how many were checkpointed."""
        polled_at = datetime.now(UTC)
        txns = self.source.pending(self._position or 0, self.batch_changes)
        self.status.source_up = True
        metrics.CDC_SOURCE_UP.labels(self.name).set(1)
        if not txns:
            self.status.caught_up_at = polled_at
            return 0
        changes, letters = self._produce(txns)
        last = txns[-1]
        checkpoint = Checkpoint(
            self.name,
            self.source.kind,
            last.end_position,
            self.source.format_position(last.end_position),
            last.commit_time.isoformat(),
            datetime.now(UTC).isoformat(),
        )
        self.checkpoints.write(checkpoint, self.name)
        # The checkpoint is durable: the reader is past these transactions even if telling the
        # source fails below (the next stream starts after the checkpoint, and start-up
        # advances the slot to it), so they are not produced again.
        self._advanced(checkpoint, last, changes, letters, len(txns))
        self.source.acknowledge(last.end_position)
        return len(txns)

    def _advanced(
        self,
        cp: Checkpoint,
        last: SourceTransaction,
        changes: list[SourceChange],
        letters: int,
        txns: int,
    ) -> None:
        self._position = cp.position
        st = self.status
        st.position, st.position_text, st.commit_time = (
            cp.position,
            cp.position_text,
            last.commit_time,
        )
        st.changes += len(changes)
        st.dead_letters += letters
        st.last_error = None
        for change in changes:
            metrics.CDC_CHANGES.labels(self.name, change.table, change.operation).inc()
        metrics.CDC_TRANSACTIONS.labels(self.name).inc(txns)

    def _produce(self, txns: list[SourceTransaction]) -> tuple[list[SourceChange], int]:
        """Produce every change of ``txns`` and wait for all acks; raises KafkaUnavailable."""
        tables = sorted({c.table for t in txns for c in t.changes if c.problem is None})
        self._ensure_change_topics(tables)
        errors: list[KafkaError] = []
        done: list[SourceChange] = []
        letters = 0
        for txn in txns:
            for change in txn.changes:
                if change.problem is not None:
                    self._dead_letter(txn, change, errors)
                    letters += 1
                    continue
                event = to_change_event(self.name, txn, change)
                rec = encode_event(event, topic_for(self.settings.topic_prefix, change.table))
                self._send(rec.topic, rec.key, rec.value, rec.headers, errors)
                done.append(change)
        remaining = self.producer.flush(30)
        if errors or remaining:
            raise KafkaUnavailable(
                f"{len(errors)} records refused, {remaining} unacknowledged"
                + (f": {errors[0].str()}" if errors else "")
            )
        return done, letters

    def _dead_letter(
        self, txn: SourceTransaction, change: SourceChange, errors: list[KafkaError]
    ) -> None:
        letter = DeadLetter(
            f"cdc:{self.name}",
            "",
            "capture",
            change.problem or "",
            1,
            Coordinates(change.table, 0, change.ordinal, int(txn.commit_time.timestamp() * 1000)),
            datetime.now(UTC),
        )
        value = {
            "position": txn.commit_position,
            "table": change.table,
            "op": change.operation,
            "key": dict(change.key),
            "before": change.before,
            "after": change.after,
        }
        key, val, headers = dead_letter_record(
            None, json.dumps(value, default=str).encode(), [], letter
        )
        self._send(self.dlq_topic, key, val, headers, errors)
        metrics.CDC_DEAD_LETTERS.labels(self.name, change.operation).inc()
        log.warning(
            "cdc %s: dead-lettered a change at %s: %s",
            self.name,
            txn.commit_position,
            change.problem,
        )

    def _send(
        self, topic: str, key: Any, value: Any, headers: Any, errors: list[KafkaError]
    ) -> None:
        def done(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(err)

        while True:
            try:
                self.producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=done
                )
                return
            except BufferError:
                self.producer.poll(0.05)
