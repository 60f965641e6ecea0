"""The batched HTTP processor: many events per signed POST, answered event by event.

Output events are split into streams (a lane always goes whole to one stream, so a key's events
stay in order); each stream sends its events in order, ``delivery.batch`` at a time. Per-event
answers decide each event alone: ``applied``/``duplicate`` finish it, ``rejected`` dead-letters
its record, ``retry`` keeps it (and, by contract, the rest of its lane) at the head of the
stream for the next POST. A failed POST retries the same events under the same keys, so events
the endpoint applied before failing come back ``duplicate``, never as new work.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import Consumer, Message

from streamdr.observe import metrics
from streamdr.pipeline.backoff import backoff_delay
from streamdr.pipeline.batch import FINISHED, BatchItem, EventResult, encoded_size
from streamdr.pipeline.breaker import Breaker, BreakerOpen, wait_for_trial
from streamdr.pipeline.delivery import SinkError
from streamdr.pipeline.handler import Failure, RecordHandler, prepare_batch
from streamdr.pipeline.loop import Owns
from streamdr.pipeline.per_event import position, record_lanes
from streamdr.pipeline.progress import BatchResult, assign_streams, commit_points


class BatchSink(Protocol):
    """Sends one batch; see :meth:`streamdr.pipeline.delivery.HttpSink.send_batch`."""

    def send_batch(self, items: list[BatchItem]) -> list[EventResult]:
        """Return one result per item; raises SinkError for the whole batch."""

    def close(self) -> None:
        """Close the connections."""


@dataclass
class _Out:
    """One output event waiting in a stream: its record, batch item and attempts so far."""

    record: int
    item: BatchItem
    attempts: int = 0
    settled: bool = False  # answered for good (applied, duplicate or dead-lettered)


@dataclass
class _Records:
    """Per-record state shared by the streams of one batch."""

    msgs: list[Message]
    owns: Owns
    outstanding: list[int]  # output events not finished yet, per record
    done: set[int] = field(default_factory=set)  # finished: delivered, filtered, dead-lettered
    failed: set[int] = field(default_factory=set)  # unfinished for good in this batch


class BatchedProcessor:
    """Delivers output events in batches through ``sink`` with the workflow's retry rules."""

    def __init__(
        self,
        handler: RecordHandler,
        sink: BatchSink,
        breaker: Breaker,
        sleep: Callable[[float], bool],
    ) -> None:
        workflow = handler.workflow
        assert workflow.delivery.batch is not None
        self.handler = handler
        self.sink = sink
        self.breaker = breaker
        self.sleep = sleep
        self.limits = workflow.delivery.batch
        self.ordering = workflow.delivery.ordering
        self.retry = workflow.retry
        self.fill_wait_s = self.limits.max_wait_ms / 1000
        # Requests in flight at once: the event bound divided by the batch size, at least one.
        self.streams = max(1, workflow.delivery.max_in_flight // self.limits.max_events)
        self._pool = ThreadPoolExecutor(max_workers=self.streams, thread_name_prefix="batch")

    def open(self, consumer: Consumer) -> None:
        """Nothing to prepare."""

    def process(self, records: list[Message], owns: Owns) -> BatchResult:
        """Return the commit points after delivering ``records``' output in batches."""
        self.handler.still_owned = owns
        state = _Records(records, owns, [0] * len(records))
        lanes = record_lanes(records, self.ordering)
        outs: list[_Out] = []
        for index, (deliveries, failure) in enumerate(
            prepare_batch(records, self.handler.transform)
        ):
            if failure is not None:
                self._finish_failed(state, index, failure)
            elif not deliveries:
                metrics.WORKER_RECORDS.labels(self.handler.workflow.name, "filtered").inc()
                state.done.add(index)
            else:
                state.outstanding[index] = len(deliveries)
                outs += [_Out(index, BatchItem(d, lanes[index])) for d in deliveries]
        streams = assign_streams([o.item.lane for o in outs], self.streams)
        futures = [
            self._pool.submit(self._run_stream, [outs[i] for i in s], state) for s in streams
        ]
        for fut in futures:
            fut.result()
        unfinished = [position(records[i]) for i in range(len(records)) if i not in state.done]
        return commit_points((position(m) for m in records), unfinished)

    def _run_stream(self, outs: list[_Out], state: _Records) -> None:
        """Send one stream's events in order until each is finished or cannot be this batch."""
        queue = deque(outs)
        blocked: set[str] = set()  # lanes with an unfinished record: the rest of them waits
        while queue:
            chunk = self._take(queue, state, blocked)
            if not chunk:
                continue
            if not wait_for_trial(self.breaker, self.sleep):
                self._give_up([*chunk, *queue], state)
                return
            retry_wait = self._send(chunk, state, blocked)
            queue.extendleft(reversed([o for o in chunk if self._pending(o, state)]))
            if retry_wait and not self.sleep(retry_wait):
                self._give_up(list(queue), state)
                return

    def _take(self, queue: deque[_Out], state: _Records, blocked: set[str]) -> list[_Out]:
        """Return the next chunk within the batch limits, dropping what cannot go now."""
        chunk: list[_Out] = []
        keys: set[str] = set()
        size = 0
        while queue and len(chunk) < self.limits.max_events:
            out = queue[0]
            msg = state.msgs[out.record]
            if (
                out.item.lane in blocked
                or out.record in state.failed
                or not state.owns(msg.topic(), msg.partition())
            ):
                queue.popleft()
                blocked.add(out.item.lane)
                state.failed.add(out.record)
                continue
            if out.record in state.done:  # its record was dead-lettered already
                queue.popleft()
                continue
            cost = encoded_size(out.item.delivery)
            if chunk and size + cost > self.limits.max_bytes:
                break
            # The same event can arrive twice (its replicated copy and a CDC re-read after a
            # failover, say); a batch names each idempotency key once (the client contract),
            # so the second copy goes in the next POST and is answered "duplicate" there.
            key = out.item.delivery.idempotency_key
            if key in keys:
                break
            chunk.append(queue.popleft())
            keys.add(key)
            size += cost
        return chunk

    def _send(self, chunk: list[_Out], state: _Records, blocked: set[str]) -> float:
        """POST ``chunk`` and settle each event; return the backoff before the next try (0)."""
        name = self.handler.workflow.name
        started = time.perf_counter()
        try:
            results = self.breaker.call(lambda: self.sink.send_batch([o.item for o in chunk]))
        except BreakerOpen:
            metrics.DELIVERY_ATTEMPTS.labels(name, "breaker_open").inc()
            return 0.0
        except SinkError as exc:
            metrics.DELIVERY_ATTEMPTS.labels(
                name, "retryable" if exc.retryable else "permanent"
            ).inc()
            return self._failed_attempt(
                chunk, state, blocked, str(exc), permanent=not exc.retryable
            )
        finally:
            metrics.DELIVERY_LATENCY.labels(name).observe(time.perf_counter() - started)
        metrics.DELIVERY_ATTEMPTS.labels(name, "ok").inc()
        retries: list[_Out] = []
        for out, result in zip(chunk, results, strict=True):
            if result.status in FINISHED:
                self._delivered(out, state)
            elif result.status == "rejected":
                self._reject(out, state, blocked, result.error or "rejected by the endpoint", 1)
            else:
                retries.append(out)
        if not retries:
            return 0.0
        return self._failed_attempt(
            retries, state, blocked, "endpoint asked to retry", permanent=False
        )

    def _failed_attempt(
        self, outs: list[_Out], state: _Records, blocked: set[str], error: str, *, permanent: bool
    ) -> float:
        """Count an attempt for ``outs``; dead-letter those out of attempts; return the backoff."""
        worst = 0
        for out in outs:
            out.attempts += 1
            if permanent or out.attempts >= self.retry.max_attempts:
                self._reject(out, state, blocked, error, out.attempts)
            else:
                worst = max(worst, out.attempts)
        if not worst:
            return 0.0
        return backoff_delay(
            worst, self.retry.initial_backoff_seconds, self.retry.max_backoff_seconds
        )

    def _pending(self, out: _Out, state: _Records) -> bool:
        return not out.settled and out.record not in state.done and out.record not in state.failed

    def _delivered(self, out: _Out, state: _Records) -> None:
        out.settled = True
        state.outstanding[out.record] -= 1
        if state.outstanding[out.record] == 0 and out.record not in state.done | state.failed:
            state.done.add(out.record)
            metrics.WORKER_RECORDS.labels(self.handler.workflow.name, "delivered").inc()

    def _reject(
        self, out: _Out, state: _Records, blocked: set[str], error: str, attempts: int
    ) -> None:
        out.settled = True
        if out.record in state.done or out.record in state.failed:
            return
        self._finish_failed(state, out.record, Failure("deliver", error, attempts))
        if out.record in state.failed:
            blocked.add(out.item.lane)

    def _finish_failed(self, state: _Records, index: int, failure: Failure) -> None:
        if self.handler.dead_letter(state.msgs[index], failure):
            state.done.add(index)
        else:
            state.failed.add(index)

    def _give_up(self, outs: list[_Out], state: _Records) -> None:
        for out in outs:
            if out.record not in state.done:
                state.failed.add(out.record)

    def close(self) -> None:
        """Stop the pool and close the sink's connections."""
        self._pool.shutdown(wait=True)
        self.sink.close()
