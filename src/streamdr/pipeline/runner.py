"""Running workers for workflows: plan (check everything), then one thread per workflow.

``plan_run`` resolves each workflow's topics, secret and transformation before anything
starts, so a misconfiguration fails with one ``Error:`` and nothing half-running. ``Runner``
then keeps one worker per workflow alive — a worker that fails is rebuilt from its committed
offsets after a backoff — and reports status for ``/health`` and ``/ready``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamdr.artifacts.api import TransformV1
from streamdr.errors import InputError, StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import make_consumer, make_producer
from streamdr.observe import metrics
from streamdr.pipeline.backoff import backoff_delay
from streamdr.pipeline.batched import BatchedProcessor
from streamdr.pipeline.breaker import Breaker
from streamdr.pipeline.delivery import Deliverer, HttpSink, counts_against_endpoint
from streamdr.pipeline.dlq import DlqWriter
from streamdr.pipeline.events import topic_for
from streamdr.pipeline.handler import RecordHandler
from streamdr.pipeline.kafka_sink import KafkaSinkProcessor
from streamdr.pipeline.loop import BatchProcessor, ConsumerLoop
from streamdr.pipeline.per_event import PerEventProcessor
from streamdr.pipeline.topics import TopicWant, dlq_want, ensure_topics
from streamdr.pipeline.transform import TransformLoader
from streamdr.settings.model import Settings
from streamdr.signature import secret_from_env
from streamdr.workflows.model import Workflow

log = logging.getLogger(__name__)
RESTART_INITIAL_S = 1.0
RESTART_MAX_S = 30.0
# A worker killed with -9 (or lost with its site) keeps its partitions until its session times
# out. Kafka's 45 s default would add 45 s to every such recovery; heartbeats come from the
# client's background thread, independent of slow deliveries, so 10 s is safe.
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 3_000


class RunningWorker(Protocol):
    """What the runner needs of a worker."""

    errors: list[str]

    def run(self) -> None:
        """Process until the stop event is set."""

    def ready(self) -> bool:
        """Return True when it can do its job."""

    def assigned(self) -> list[tuple[str, int]]:
        """Return its partitions."""


@dataclass(frozen=True)
class WorkflowPlan:
    """Everything one workflow's worker needs, resolved and checked."""

    workflow: Workflow
    topics: list[str]
    transform: TransformV1
    secret: bytes | None
    # Copies of these topics replicated from another site (consumed, never created here).
    replicated: list[str] = field(default_factory=list)

    @property
    def consumed(self) -> list[str]:
        """Return every topic the workflow's worker subscribes to."""
        return [*self.topics, *self.replicated]


def source_topics(workflow: Workflow, settings: Settings) -> list[str]:
    """Return the topics a workflow consumes; raises InputError for an unknown source."""
    src = workflow.source
    if src.topic:
        return [src.topic]
    source = settings.sources.get(src.database or "")
    if source is None:
        raise InputError(
            f"workflow {workflow.name!r} reads source {src.database!r}, "
            "which streamdr.yaml does not define",
            hint=f"Add sources.{src.database} to streamdr.yaml (see docs/pipeline.md).",
        )
    return [topic_for(source.topic_prefix, table) for table in src.tables]


def plan_run(
    settings: Settings, workflows: list[Workflow], load: TransformLoader
) -> list[WorkflowPlan]:
    """Return a checked plan per workflow.

    Raises InputError (unknown source, missing secret) or the loader's error (unsigned,
    tampered or missing artifact) before anything starts.
    """
    plans = []
    for wf in workflows:
        env = wf.sink.signing_secret_env
        secret = secret_from_env(env, f"signing secret of {wf.name}") if env else None
        plans.append(WorkflowPlan(wf, source_topics(wf, settings), load(wf.transformation), secret))
    return plans


@dataclass
class Slot:
    """One workflow's worker as the runner sees it."""

    plan: WorkflowPlan
    worker: RunningWorker | None = None
    thread: threading.Thread | None = None
    restarts: int = 0
    last_error: str | None = None
    breaker: Breaker | None = None
    started_at: float = field(default_factory=time.time)


class Runner:
    """Keeps one worker per planned workflow running until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        plans: list[WorkflowPlan],
        stop: threading.Event,
        *,
        site: str | None = None,
        batch_size: int = 500,
        instance: str | None = None,
    ) -> None:
        self.settings = settings
        self.site_name, self.site = settings.site(site)
        self.slots = [Slot(p) for p in plans]
        self.stop = stop
        self.batch_size = batch_size
        self.instance = instance or f"{os.uname().nodename}-{os.getpid()}"

    def prepare(self) -> None:
        """Create the change topics and DLQs the workflows need, so subscriptions see them.

        Raises UnreachableError when Kafka is down.
        """
        wants: dict[str, TopicWant] = {}
        for slot in self.slots:
            wf = slot.plan.workflow
            source = self.settings.sources.get(wf.source.database or "")
            if source is not None:
                for topic in slot.plan.topics:
                    wants[topic] = TopicWant(topic, source.partitions)
            if wf.dlq.enabled:
                wants[wf.dlq_topic] = dlq_want(wf.dlq_topic)
            if wf.sink.kind == "kafka" and wf.sink.topic:
                wants.setdefault(wf.sink.topic, TopicWant(wf.sink.topic))
        if wants:
            ensure_topics(KafkaAdmin(self.site_name, self.site), list(wants.values()))

    def run(self) -> None:
        """Start every worker and supervise them until ``stop`` is set; then join them."""
        for slot in self.slots:
            self._try_start(slot)
        while not self.stop.wait(0.5):
            for slot in self.slots:
                if slot.thread is None or not slot.thread.is_alive():
                    self._restart(slot)
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(timeout=60)

    def _start(self, slot: Slot) -> None:
        slot.worker = self.build_worker(slot)
        slot.thread = threading.Thread(
            target=self._guarded,
            args=(slot,),
            name=f"worker-{slot.plan.workflow.name}",
            daemon=True,
        )
        slot.started_at = time.time()
        slot.thread.start()

    def _guarded(self, slot: Slot) -> None:
        try:
            assert slot.worker is not None
            slot.worker.run()
        except Exception as exc:  # a worker failure must never take the other workflows down
            slot.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("worker of %s failed", slot.plan.workflow.name)

    def _restart(self, slot: Slot) -> None:
        slot.restarts += 1
        delay = backoff_delay(min(slot.restarts, 6), RESTART_INITIAL_S, RESTART_MAX_S)
        log.warning("restarting worker of %s in %.1fs", slot.plan.workflow.name, delay)
        if not self.stop.wait(delay):
            self._try_start(slot)

    def _try_start(self, slot: Slot) -> None:
        try:
            self._start(slot)
        except StreamdrError as exc:  # e.g. Kafka unreachable: the supervisor tries again
            slot.last_error = exc.message
            slot.thread = None

    def build_worker(self, slot: Slot) -> RunningWorker:
        """Return a fresh worker (new consumer and producer) for ``slot``'s workflow."""
        plan, wf = slot.plan, slot.plan.workflow
        consumer = make_consumer(
            self.site,
            wf.consumer_group,
            **{
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
                "isolation.level": "read_committed",
                # A topic created after subscribe is noticed within seconds, not 5 minutes.
                "topic.metadata.refresh.interval.ms": 5000,
                "client.id": f"{wf.name}-{self.instance}",
            },
        )
        if wf.sink.kind == "kafka":
            extra = (
                {
                    "transactional.id": f"streamdr-{wf.name}-{uuid.uuid4().hex[:12]}",
                    "transaction.timeout.ms": 30000,
                }
                if wf.delivery.guarantee == "exactly-once"
                else {}
            )
            producer = make_producer(self.site, **extra)
            processor = KafkaSinkProcessor(wf, producer, plan.transform)
            return ConsumerLoop(
                wf.name, consumer, plan.consumed, processor, self.stop, batch_size=self.batch_size
            )
        return self._http_worker(slot, consumer)

    def _http_worker(self, slot: Slot, consumer: Any) -> ConsumerLoop:
        """Return the loop with the per-event or (opt-in) batched HTTP processor."""
        plan, wf = slot.plan, slot.plan.workflow
        sleep: Callable[[float], bool] = lambda s: not self.stop.wait(s)  # noqa: E731
        if slot.breaker is None:  # the breaker outlives worker restarts: same endpoint
            slot.breaker = Breaker(
                wf.breaker.failure_threshold,
                wf.breaker.reset_timeout_seconds,
                counts=counts_against_endpoint,
                name=wf.name,
                on_change=lambda state: _breaker_changed(wf.name, state),
            )
            metrics.DELIVERY_BREAKER_STATE.labels(wf.name).set(0)
        sink = HttpSink(wf, plan.secret, site=self.site_name)
        dlq = (
            DlqWriter(make_producer(self.site, **{"linger.ms": 0}), wf.dlq_topic)
            if wf.dlq.enabled
            else None
        )
        deliverer = Deliverer(wf, sink.send, slot.breaker, sleep)
        handler = RecordHandler(wf, plan.transform, deliverer, dlq, sleep, lambda t, p: True)
        breaker = slot.breaker
        processor: BatchProcessor = (
            BatchedProcessor(handler, sink, breaker, sleep)
            if wf.delivery.batch is not None
            else PerEventProcessor(handler, closing=sink)
        )
        return ConsumerLoop(
            wf.name,
            consumer,
            plan.consumed,
            processor,
            self.stop,
            batch_size=self.batch_size,
            breaker_state=lambda: breaker.state,
        )

    def status(self) -> dict[str, Any]:
        """Return the process status for the probes: alive, ready, and per workflow."""
        workflows = {}
        for slot in self.slots:
            worker, thread = slot.worker, slot.thread
            workflows[slot.plan.workflow.name] = {
                "running": bool(thread and thread.is_alive()),
                "ready": bool(worker and thread and thread.is_alive() and worker.ready()),
                "assigned": [f"{t}[{p}]" for t, p in (worker.assigned() if worker else [])],
                "committed": getattr(worker, "positions", dict)() if worker else {},
                "breaker": slot.breaker.state if slot.breaker else None,
                "restarts": slot.restarts,
                "last_error": slot.last_error
                or ((worker.errors or [None])[-1] if worker else None),
                "transformation": f"{slot.plan.workflow.transformation.name}@"
                f"{slot.plan.workflow.transformation.version}",
            }
        return {
            "alive": not self.stop.is_set(),
            "ready": bool(workflows) and all(w["ready"] for w in workflows.values()),
            "instance": self.instance,
            "site": self.site_name,
            "workflows": workflows,
        }


def _breaker_changed(workflow: str, state: str) -> None:
    metrics.DELIVERY_BREAKER_STATE.labels(workflow).set(metrics.BREAKER_CODES.get(state, 0))
    level = logging.WARNING if state != "closed" else logging.INFO
    log.log(level, "%s: circuit breaker %s", workflow, state)
