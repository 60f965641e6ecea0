"""Drill ``topic-restore``: delete a live topic with a consumer group, restore it, resume the group.

A continuous backup (1 s flush interval) runs while traffic with null keys, tombstones and
repeated binary headers flows; a consumer group has committed part of the topic. The producer
stops and the topic is deleted (Kafka drops the group's offsets with it). The topic is restored
from the backup with the group's offsets remapped, and the group consumes again.

- RTO: deletion → the group received its first record again on every partition it had left.
- RPO: records acknowledged before the deletion that are not restored (count, and the time
  span they cover). The backup is stopped cleanly after the deletion, so it flushes what it had
  read; ``not_durable_at_fault`` counts the records that were not yet in a cataloged file at
  the deletion: the loss had the backup process died too (bounded by its 1 s flush interval).
- Exactness: every restored record is byte-identical (key, value, headers, timestamp) to the
  record produced at that place, and the group resumes at the record it had committed.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import TopicPartition as KafkaTP

from streamdr.backup import catalog
from streamdr.backup.model import TopicPartition
from streamdr.backup.service import BackupOptions, BackupService
from streamdr.backup.store import BackupStore
from streamdr.backup.targets import default_target
from streamdr.backup.writer import RollPolicy
from streamdr.clock import now_ms
from streamdr.drills.context import DrillContext
from streamdr.drills.report import DrillReport
from streamdr.errors import StateError
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.objectstore.store import open_store
from streamdr.policy.tiers import TIER_TARGETS, Tier
from streamdr.restore.executor import RestoreExecutor
from streamdr.restore.plan import RestoreRequest
from streamdr.settings.model import SiteSettings

PARTITIONS = 3
INITIAL_RECORDS = 3000
LIVE_SECONDS = 3.0
LIVE_RATE = 300.0
CATCH_UP_TIMEOUT_S = 60.0
RESUME_TIMEOUT_S = 60.0

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None, int]


@dataclass
class Produced:
    """Every acknowledged record by partition, in offset order."""

    records: dict[int, list[tuple[int, Record]]]

    def at(self, partition: int, offset: int) -> Record | None:
        """Return the record produced at ``offset`` of ``partition``."""
        for off, rec in self.records[partition]:
            if off == offset:
                return rec
        return None


def _record(seq: int, ts: int) -> tuple[int, Record]:
    key = None if seq % 7 == 0 else f"key-{seq}".encode()
    value = None if seq % 13 == 0 else seq.to_bytes(4, "big") + b"\x00\xff" * (seq % 40)
    headers = [("h", b"\x00\x01"), ("h", str(seq).encode()), ("empty", None)] if seq % 3 else None
    return seq % PARTITIONS, (key, value, headers, ts)


class _Traffic:
    """Produces drill records and records their acknowledged offsets."""

    def __init__(self, site: SiteSettings, topic: str) -> None:
        self.topic = topic
        self.producer = make_producer(site, **{"linger.ms": 5})
        self.acked: dict[int, list[tuple[int, Record]]] = {p: [] for p in range(PARTITIONS)}
        self.seq = 0
        self.lock = threading.Lock()

    def send(self) -> None:
        partition, rec = _record(self.seq, now_ms())
        self.seq += 1

        def done(err: Any, msg: Any, rec: Record = rec) -> None:
            if err is None:
                with self.lock:
                    self.acked[msg.partition()].append((msg.offset(), rec))

        key, value, headers, ts = rec
        self.producer.produce(
            self.topic,
            value,
            key,
            partition=partition,
            timestamp=ts,
            headers=headers,
            on_delivery=done,
        )
        self.producer.poll(0)

    def flush(self) -> Produced:
        self.producer.flush(60)
        with self.lock:
            return Produced({p: sorted(v) for p, v in self.acked.items()})


class TopicRestoreDrill:
    """Delete a topic, restore it from its continuous backup, resume its consumer group."""

    name = "topic-restore"
    description = (
        "Delete a live topic with a consumer group, restore it from backup, resume the group; "
        "RTO, RPO and byte-exactness"
    )
    targets = TIER_TARGETS[Tier.NON_CRITICAL]

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill on ``ctx.site`` and fill ``report``."""
        _, site = ctx.settings.site(ctx.site)
        admin = KafkaAdmin(ctx.site, site)
        run_id = uuid.uuid4().hex[:8]
        topic, group = f"streamdr.drill.topic-restore.{run_id}", f"streamdr-drill-restore-{run_id}"
        objects = open_store(ctx.settings, default_target(ctx.settings))
        store = BackupStore(objects, f"streamdr-drills/topic-restore/{run_id}")
        try:
            self._run(ctx, report, admin, site, store, topic, group)
        finally:
            with report.step("clean up drill topic, group and backup"):
                if admin.topic(topic) is not None:
                    admin.delete_topics([topic])
                for obj in objects.list(store.prefix):
                    objects.delete(obj.key)
        return report

    def _run(
        self,
        ctx: DrillContext,
        report: DrillReport,
        admin: KafkaAdmin,
        site: SiteSettings,
        store: BackupStore,
        topic: str,
        group: str,
    ) -> None:
        traffic = _Traffic(site, topic)
        with report.step(f"create {topic}, produce {INITIAL_RECORDS} records") as st:
            admin.create_topics(
                [TopicSpec(topic, PARTITIONS, min(3, len(admin.metadata().brokers)))]
            )
            admin.wait_until(lambda m: topic in m.topics, timeout=30, what=f"topic {topic}")
            for _ in range(INITIAL_RECORDS):
                traffic.send()
            initial = traffic.flush()
            st.detail = f"{sum(len(v) for v in initial.records.values())} acknowledged"
        with report.step(f"group {group} consumes part of it and commits") as st:
            committed = {p: len(recs) // (p + 2) for p, recs in initial.records.items()}
            committed = {p: initial.records[p][n][0] for p, n in committed.items()}
            _commit(site, group, topic, committed)
            st.detail = f"committed {committed}"
        stop = threading.Event()
        backup = BackupService(
            ctx.settings,
            ctx.store,
            [store],
            BackupOptions(
                ctx.site,
                topics_regex=topic.replace(".", r"\."),
                continuous=True,
                roll=RollPolicy(max_age_s=1.0),
                snapshot_interval_s=3600,
            ),
            stop=stop,
        )
        thread = threading.Thread(target=self._backup, args=(backup, report), daemon=True)
        with report.step("continuous backup running, live traffic") as st:
            thread.start()
            deadline = time.monotonic() + LIVE_SECONDS
            while time.monotonic() < deadline:
                traffic.send()
                time.sleep(1 / LIVE_RATE)
            produced = traffic.flush()
            st.detail = f"{sum(len(v) for v in produced.records.values())} acknowledged in total"
        with report.step("fault: delete the topic") as st:
            durable = catalog.progress(store.manifests(topic))
            report.figures["not_durable_at_fault"] = sum(
                1
                for p, recs in produced.records.items()
                for off, _rec in recs
                if off >= durable.get(TopicPartition(topic, p), 0)
            )
            fault_at = time.time()
            admin.delete_topics([topic])
            stop.set()
            thread.join(CATCH_UP_TIMEOUT_S)
            admin.wait_until(lambda m: topic not in m.topics, timeout=60, what=f"{topic} deleted")
            st.detail = "deleted; backup stopped"
        if "backup_error" in report.figures:
            raise StateError(f"the drill's backup failed: {report.figures['backup_error']}")
        self._restore_and_resume(
            ctx, report, site, store, topic, group, committed, produced, fault_at
        )

    @staticmethod
    def _backup(backup: BackupService, report: DrillReport) -> None:
        try:
            backup.run()
        except Exception as exc:
            report.figures["backup_error"] = str(exc)

    def _restore_and_resume(
        self,
        ctx: DrillContext,
        report: DrillReport,
        site: SiteSettings,
        store: BackupStore,
        topic: str,
        group: str,
        committed: dict[int, int],
        produced: Produced,
        fault_at: float,
    ) -> None:
        with report.step("restore the topic and the group's offsets from the backup") as st:
            executor = RestoreExecutor(ctx.settings, ctx.store, store)
            request = RestoreRequest(topic=topic, to_site=ctx.site, groups=(group,))
            result = executor.execute(executor.prepare(request))
            st.ok = result.verified
            st.detail = (
                f"{sum(o.planned for o in result.outcomes)} records, verified={result.verified}"
            )
        with report.step(f"group {group} resumes") as st:
            first, resumed_at = _resume(site, group, topic, committed, produced)
            st.ok = resumed_at is not None
            keys = {p: (rec[0] if rec else None) for p, rec in sorted(first.items())}
            st.detail = f"first record key per partition {keys}"
        restored = _read_all(site, topic)
        self._figures(report, result, produced, restored, committed, first, fault_at, resumed_at)

    def _figures(
        self,
        report: DrillReport,
        result: Any,
        produced: Produced,
        restored: dict[int, list[Record]],
        committed: dict[int, int],
        first: dict[int, Record | None],
        fault_at: float,
        resumed_at: float | None,
    ) -> None:
        exact = all(
            restored[p] == [rec for _off, rec in produced.records[p][: len(restored[p])]]
            for p in range(PARTITIONS)
        )
        lost = [
            rec for p in range(PARTITIONS) for _off, rec in produced.records[p][len(restored[p]) :]
        ]
        right_position = all(first.get(p) == produced.at(p, off) for p, off in committed.items())
        report.rto_seconds = round(resumed_at - fault_at, 3) if resumed_at else None
        newest_restored = max((r[3] for recs in restored.values() for r in recs), default=0)
        report.rpo_seconds = round(fault_at - newest_restored / 1000, 3) if lost else 0.0
        report.figures.update(
            {
                "acked_before_delete": sum(len(v) for v in produced.records.values()),
                "restored": sum(len(v) for v in restored.values()),
                "rpo_records_lost": len(lost),
                "exact": exact,
                "group_resumed_at_committed_record": right_position,
                "restore_verified": result.verified,
                "restore_id": result.restore_id,
            }
        )
        targets = self.targets
        report.judge(
            {
                f"RTO < {targets.rto.total_seconds():.0f}s": report.rto_seconds is not None
                and report.rto_seconds < targets.rto.total_seconds(),
                f"RPO < {targets.rpo.total_seconds():.0f}s": report.rpo_seconds
                < targets.rpo.total_seconds(),
                "every restored record byte-identical": exact,
                "restore read-back verified": result.verified,
                "group resumed at its committed record": right_position,
            }
        )


def _commit(site: SiteSettings, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = make_consumer(site, group)
    try:
        consumer.commit(
            offsets=[KafkaTP(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()


def _as_record(msg: Any) -> Record:
    return (msg.key(), msg.value(), msg.headers(), msg.timestamp()[1])


def _resume(
    site: SiteSettings, group: str, topic: str, committed: dict[int, int], produced: Produced
) -> tuple[dict[int, Record | None], float | None]:
    """Consume as ``group`` until each partition with records left gave one; return them."""
    waiting = {p for p, off in committed.items() if off <= produced.records[p][-1][0]}
    first: dict[int, Record | None] = {}
    consumer = make_consumer(site, group)
    consumer.subscribe([topic])
    deadline = time.monotonic() + RESUME_TIMEOUT_S
    try:
        while waiting - set(first) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() or msg.partition() in first:
                continue
            first[msg.partition()] = _as_record(msg)
        done_at = time.time() if not waiting - set(first) else None
    finally:
        consumer.close()
    return first, done_at


def _read_all(site: SiteSettings, topic: str) -> dict[int, list[Record]]:
    consumer = make_consumer(
        site, f"streamdr-drill-read-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True}
    )
    out: dict[int, list[Record]] = {p: [] for p in range(PARTITIONS)}
    done: set[int] = set()
    consumer.assign([KafkaTP(topic, p, 0) for p in range(PARTITIONS)])
    deadline = time.monotonic() + 60
    try:
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                done.add(msg.partition())
                continue
            out[msg.partition()].append(_as_record(msg))
    finally:
        consumer.close()
    return out
