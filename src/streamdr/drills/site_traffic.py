"""Steady traffic for the site-failover drills, delivered once into an idempotent sink.

- :class:`EventSink` stands in for a client endpoint: a SQLite file that applies each event id
  once (check and insert in one transaction). Every application is also appended to a log
  without a uniqueness constraint, so ``duplicates_applied`` is measured, not assumed.
- :class:`SiteProducer` sends events with content-derived ids (sha256 of the payload) at a fixed
  rate to its current site (acks=all); it can be paused and moved to another site.
- :class:`SiteConsumer` reads a group's topics on one site, applies each event to the sink, then
  commits (commit after durable).
- :class:`DrillWorkload` implements :class:`~streamdr.replication.workload.WorkloadControl` over
  them, so the real failover executor drives the drill's pipeline.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.replication.naming import ReplicationNames
from streamdr.settings.model import Settings

EVENT_ID_HEADER = "streamdr-event-id"
COMMIT_EVERY_S = 0.2


def event_id(payload: bytes) -> str:
    """Return the content-derived id of an event (never a Kafka offset)."""
    return hashlib.sha256(payload).hexdigest()[:32]


class EventSink:
    """An idempotent endpoint backed by SQLite; thread-safe."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS applied (event_id TEXT PRIMARY KEY, applied_at REAL,
                site TEXT, origin TEXT);
            CREATE TABLE IF NOT EXISTS applications (event_id TEXT, applied_at REAL, site TEXT);
            CREATE TABLE IF NOT EXISTS redeliveries (event_id TEXT, at REAL, site TEXT);
            """
        )

    def apply(self, eid: str, site: str, origin: str) -> bool:
        """Apply ``eid`` unless it already was; return True when applied now."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seen = self._db.execute("SELECT 1 FROM applied WHERE event_id=?", (eid,)).fetchone()
                if seen:
                    self._db.execute("INSERT INTO redeliveries VALUES (?,?,?)", (eid, now, site))
                else:
                    self._db.execute(
                        "INSERT INTO applied VALUES (?,?,?,?)", (eid, now, site, origin)
                    )
                    self._db.execute("INSERT INTO applications VALUES (?,?,?)", (eid, now, site))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return not seen

    def _scalar(self, sql: str, *args: object) -> float:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return row[0] if row and row[0] is not None else 0

    def applied_ids(self) -> set[str]:
        """Return every applied event id."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT event_id FROM applied")}

    def duplicates_applied(self) -> int:
        """Return how many applications repeated an event already applied."""
        return int(self._scalar("SELECT COUNT(*) - COUNT(DISTINCT event_id) FROM applications"))

    def redeliveries(self) -> int:
        """Return how many deliveries the idempotency check ignored."""
        return int(self._scalar("SELECT COUNT(*) FROM redeliveries"))

    def first_applied_after(self, ts: float, site: str, origin: str | None = None) -> float | None:
        """Return when the first event was applied through ``site`` after ``ts``."""
        sql = "SELECT MIN(applied_at) FROM applied WHERE applied_at > ? AND site = ?"
        args: list[object] = [ts, site]
        if origin is not None:
            sql += " AND origin = ?"
            args.append(origin)
        value = self._scalar(sql, *args)
        return float(value) if value else None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


@dataclass
class SentEvent:
    """One produced event."""

    seq: int
    event_id: str
    site: str
    sent_at: float
    acked_at: float | None = None
    error: str | None = None


class SiteProducer:
    """A paced acks=all producer of content-identified events; follows its site."""

    def __init__(self, settings: Settings, topic: str, home: str, origin: str, rate: float) -> None:
        self.settings, self.topic, self.home, self.origin = settings, topic, home, origin
        self.rate = rate
        self.site = home
        self.sent: dict[int, SentEvent] = {}
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._stop = threading.Event()
        self._retarget = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"producer-{origin}", daemon=True)

    def start(self) -> None:
        """Start sending to the home site."""
        self._running.set()
        self._thread.start()

    def pause(self) -> None:
        """Stop sending (in-flight events resolve within the message timeout)."""
        self._running.clear()

    def resume_on(self, site: str) -> None:
        """Send to ``site`` from now on."""
        if site != self.site:
            self.site = site
            self._retarget.set()
        self._running.set()

    def stop(self) -> None:
        """Stop for good and wait for in-flight events."""
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=60)

    @property
    def paused(self) -> bool:
        """Return True while not sending."""
        return not self._running.is_set()

    def events(self) -> list[SentEvent]:
        """Return a copy of every event sent."""
        with self._lock:
            return list(self.sent.values())

    def _callback(self, seq: int):
        def done(err: KafkaError | None, _msg: object) -> None:
            with self._lock:
                ev = self.sent[seq]
                if err is None:
                    ev.acked_at = time.time()
                else:
                    ev.error = err.str()

        return done

    def _producer(self, site: str):
        return make_producer(
            self.settings.sites[site], **{"linger.ms": 0, "message.timeout.ms": 8000}
        )

    def _loop(self) -> None:
        producer, seq, interval = self._producer(self.site), 0, 1.0 / self.rate
        draining: list = []  # producers of an old site, until their in-flight events resolve
        next_at = time.time()
        while not self._stop.is_set():
            draining = [d for d in draining if d.poll(0) is not None and len(d) > 0]
            if not self._running.wait(0.1):
                producer.poll(0.1)
                continue
            if self._retarget.is_set():
                self._retarget.clear()
                draining.append(producer)
                producer = self._producer(self.site)
            payload = json.dumps({"origin": self.origin, "seq": seq, "at": time.time()}).encode()
            eid = event_id(payload)
            with self._lock:
                self.sent[seq] = SentEvent(seq, eid, self.site, time.time())
            try:
                producer.produce(
                    self.topic,
                    value=payload,
                    key=eid.encode(),
                    headers=[(EVENT_ID_HEADER, eid.encode())],
                    on_delivery=self._callback(seq),
                )
            except BufferError:
                with self._lock:
                    self.sent[seq].error = "local queue full"
            seq += 1
            next_at = max(next_at + interval, time.time() - 1.0)
            producer.poll(max(0.0, next_at - time.time()))
        for old in draining:
            old.flush(10)
        producer.flush(30)


class SiteConsumer:
    """One group's consumer on one site, applying into the sink, committing after durable."""

    def __init__(
        self, settings: Settings, site: str, group: str, topics: list[str], sink: EventSink
    ) -> None:
        self.settings, self.site, self.group, self.topics, self.sink = (
            settings,
            site,
            group,
            topics,
            sink,
        )
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._apply_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"consumer-{site}", daemon=True)

    def start(self) -> None:
        """Start consuming."""
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop consuming: no event is applied after this returns.

        Against a dead site the final commit and close can hang; the thread finishes them in
        the background (the failover commits the group's offsets on the target anyway).
        """
        with self._apply_lock:
            self._stop.set()
        self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        consumer = make_consumer(
            self.settings.sites[self.site],
            self.group,
            # A killed site's stale member must expire quickly when the site returns.
            **{"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "fetch.wait.max.ms": 50},
        )
        consumer.subscribe(self.topics)
        # Commit after durable: only offsets of events the sink applied (or ignored as already
        # applied) are committed; a record polled while stopping is never committed.
        done: dict[tuple[str, int], int] = {}
        last_commit = time.time()
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is not None and not msg.error():
                    self._handle(msg, done)
                elif msg is not None and msg.error().code() != KafkaError._PARTITION_EOF:
                    self.errors.append(msg.error().str())
                if done and time.time() - last_commit > COMMIT_EVERY_S:
                    self._commit(consumer, done)
                    last_commit = time.time()
            if done:
                self._commit(consumer, done)
        finally:
            consumer.close()

    def _handle(self, msg: Any, done: dict[tuple[str, int], int]) -> None:
        headers = dict(msg.headers() or [])
        eid = (headers.get(EVENT_ID_HEADER) or b"").decode()
        origin = json.loads(msg.value() or b"{}").get("origin", "?")
        with self._apply_lock:
            if self._stop.is_set():
                return
            if eid:
                self.sink.apply(eid, self.site, origin)
            done[(msg.topic(), msg.partition())] = msg.offset() + 1

    def _commit(self, consumer: Any, done: dict[tuple[str, int], int]) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in done.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            done.clear()
        except Exception as exc:  # a dead site: the failover commits the group's offsets anyway
            self.errors.append(f"commit: {exc}")


class DrillWorkload:
    """The drill's pipeline behind the WorkloadControl interface the executor uses."""

    def __init__(self, settings: Settings, names: ReplicationNames, topic: str, sink: EventSink):
        self.settings, self.names, self.topic, self.sink = settings, names, topic, sink
        self.producers: list[SiteProducer] = []
        self.consumers: dict[str, SiteConsumer] = {}

    def stop(self, site: str) -> str:
        """Pause producers sending to ``site`` and stop its consumer."""
        paused = [p.origin for p in self.producers if p.site == site and not p.paused]
        for p in self.producers:
            if p.site == site:
                p.pause()
        consumer = self.consumers.pop(site, None)
        if consumer is not None:
            consumer.stop()
        return f"paused producers {paused}, stopped consumer on {site}: {consumer is not None}"

    def start(self, site: str, subscriptions: dict[str, list[str]]) -> str:
        """Start the consumer on ``site``; move there producers whose traffic it now serves."""
        for group, topics in subscriptions.items():
            if topics:
                old = self.consumers.pop(site, None)
                if old is not None:
                    old.stop()
                consumer = SiteConsumer(self.settings, site, group, topics, self.sink)
                consumer.start()
                self.consumers[site] = consumer
        served = {t for ts in subscriptions.values() for t in ts}
        moved = []
        for p in self.producers:
            if p.home == site or self.names.remote_topic(p.home, self.topic) in served:
                p.resume_on(site)
                moved.append(p.origin)
        return f"consumer on {site} reads {sorted(served)}; producers {moved} send to {site}"

    def fenced(self, site: str) -> bool:
        """Return True when nothing sends to or consumes from ``site``."""
        sending = any(p.site == site and not p.paused for p in self.producers)
        return not sending and site not in self.consumers

    def shutdown(self) -> None:
        """Stop everything."""
        for p in self.producers:
            p.stop()
        for c in list(self.consumers.values()):
            c.stop()
        self.consumers.clear()
