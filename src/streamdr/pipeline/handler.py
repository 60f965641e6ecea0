"""What a worker does with one input record: decode, transform, deliver — or dead-letter.

:meth:`RecordHandler.handle` returns True once the record is *finished* (delivered, filtered
out, or durably in the DLQ) and its offset may be committed; False only when the worker is
stopping (or lost the partition) before that, in which case the record is left for the next
owner. A bad record never raises out of here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import Message

from streamdr.artifacts.api import ChangeEvent, TransformV1
from streamdr.clock import utcnow
from streamdr.observe import metrics
from streamdr.pipeline.backoff import backoff_delay
from streamdr.pipeline.delivery import Deliverer, Outcome
from streamdr.pipeline.dlq import Coordinates, DeadLetter, DlqWriter
from streamdr.pipeline.events import MalformedRecord, decode_event, header_map
from streamdr.pipeline.transform import Delivery, TransformFailed, run_transform, run_transforms
from streamdr.workflows.model import Workflow

log = logging.getLogger(__name__)
DLQ_RETRY_INITIAL_S = 1.0
DLQ_RETRY_MAX_S = 30.0


@dataclass(frozen=True)
class Failure:
    """Why a record cannot be delivered: the stage, the reason and the attempts made."""

    stage: str
    error: str
    attempts: int = 0


def coordinates(msg: Message) -> Coordinates:
    """Return where ``msg`` was read from."""
    ts_type, ts = msg.timestamp()
    return Coordinates(msg.topic(), msg.partition(), msg.offset(), ts if ts_type else None)


def prepare(
    value: bytes | None, headers: Mapping[str, str], transform: TransformV1
) -> tuple[list[Delivery], Failure | None]:
    """Return (deliveries, None), or ([], the Failure of decoding or transforming a record)."""
    try:
        event = decode_event(value, headers)
    except MalformedRecord as exc:
        return [], Failure("decode", f"malformed record: {exc}")
    try:
        return run_transform(transform, event), None
    except TransformFailed as exc:
        return [], Failure("transform", str(exc))


def prepare_batch(
    msgs: Sequence[Message], transform: TransformV1
) -> list[tuple[list[Delivery], Failure | None]]:
    """Return ``prepare`` of every record, transforming the decodable ones in one call.

    A transformation host gets the whole batch in one round trip (``transform_batch``);
    per-event IPC would cost ~25x the in-process call.
    """
    prepared: list[tuple[list[Delivery], Failure | None]] = []
    events: list[ChangeEvent] = []
    slots: list[int] = []
    for msg in msgs:
        try:
            event = decode_event(msg.value(), header_map(msg.headers()))
        except MalformedRecord as exc:
            prepared.append(([], Failure("decode", f"malformed record: {exc}")))
            continue
        slots.append(len(prepared))
        prepared.append(([], None))
        events.append(event)
    for slot, result in zip(slots, run_transforms(transform, events), strict=True):
        if isinstance(result, TransformFailed):
            prepared[slot] = ([], Failure("transform", str(result)))
        else:
            prepared[slot] = (result, None)
    return prepared


class RecordHandler:
    """Processes records of one workflow against an HTTP sink (at-least-once)."""

    def __init__(
        self,
        workflow: Workflow,
        transform: TransformV1,
        deliverer: Deliverer,
        dlq: DlqWriter | None,
        sleep: Callable[[float], bool],
        still_owned: Callable[[str, int], bool],
    ) -> None:
        self.workflow = workflow
        self.transform = transform
        self.deliverer = deliverer
        self.dlq = dlq
        self.sleep = sleep
        self.still_owned = still_owned
        self.ref = f"{workflow.transformation.name}@{workflow.transformation.version}"

    def handle(self, msg: Message) -> bool:
        """Return True when ``msg`` is finished (delivered, filtered or dead-lettered)."""
        return self.finish(msg, *prepare(msg.value(), header_map(msg.headers()), self.transform))

    def finish(self, msg: Message, deliveries: list[Delivery], failure: Failure | None) -> bool:
        """Deliver a prepared record one event at a time; return True when it is finished."""
        name = self.workflow.name
        if failure is not None and failure.stage == "transform":
            metrics.WORKER_TRANSFORM_ERRORS.labels(name).inc()
        if failure is None:
            if not deliveries:
                metrics.WORKER_RECORDS.labels(name, "filtered").inc()
                return True
            outcome = self._deliver_all(msg, deliveries)
            if outcome is None:
                return False
            if outcome.delivered:
                metrics.WORKER_RECORDS.labels(name, "delivered").inc()
                return True
            failure = Failure("deliver", outcome.error or "not delivered", outcome.attempts)
        return self.dead_letter(msg, failure)

    def _deliver_all(self, msg: Message, deliveries: list[Delivery]) -> Outcome | None:
        """Return the first failed outcome, the last good one, or None when stopping."""
        outcome = Outcome(True, 0)
        for delivery in deliveries:
            if not self.still_owned(msg.topic(), msg.partition()):
                return None
            outcome = self.deliverer.deliver(delivery)
            if outcome.aborted:
                return None
            if not outcome.delivered:
                return outcome
        return outcome

    def dead_letter(self, msg: Message, failure: Failure) -> bool:
        """Write ``msg`` to the DLQ; return True once durable, False when stopping/unowned."""
        name = self.workflow.name
        if self.dlq is None:
            # DLQ disabled: the record is not finished; the worker rewinds to it and retries
            # after a pause, so the partition waits rather than skipping it.
            log.error(
                "%s: %s failed, DLQ disabled, will retry: %s", name, failure.stage, failure.error
            )
            self.sleep(DLQ_RETRY_MAX_S)
            return False
        letter = DeadLetter(
            name,
            self.ref,
            failure.stage,
            failure.error,
            failure.attempts,
            coordinates(msg),
            utcnow(),
        )
        attempt = 0
        while True:
            error = self.dlq.write(msg.key(), msg.value(), msg.headers(), letter)
            if error is None:
                metrics.DLQ_RECORDS.labels(name, failure.stage).inc()
                metrics.WORKER_RECORDS.labels(name, "dead_lettered").inc()
                log.warning(
                    "%s: dead-lettered %s[%d]@%d (%s): %s",
                    name,
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    failure.stage,
                    failure.error,
                )
                return True
            attempt += 1
            log.error("%s: writing to %s failed (%s); retrying", name, self.dlq.topic, error)
            wait = backoff_delay(attempt, DLQ_RETRY_INITIAL_S, DLQ_RETRY_MAX_S)
            if not self.still_owned(msg.topic(), msg.partition()) or not self.sleep(wait):
                return False
