"""The per-event HTTP processor: one signed POST per output event, lanes run concurrently.

Records are decoded and transformed as one batch (one host round trip), then grouped into
lanes (:func:`~streamdr.pipeline.progress.lane_of`); each lane is delivered in order on a
bounded pool, so at most ``delivery.max_in_flight`` events are in flight and a slow key holds
back only its own lane. A lane stops at its first unfinished record.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, Message

from streamdr.pipeline.handler import Failure, RecordHandler, prepare_batch
from streamdr.pipeline.loop import Owns
from streamdr.pipeline.progress import TP, BatchResult, commit_points, group_lanes, lane_of
from streamdr.pipeline.transform import Delivery

Prepared = tuple[list[Delivery], Failure | None]


def record_lanes(records: list[Message], ordering: str) -> list[str]:
    """Return the lane of every record under the workflow's ``ordering``."""
    return [lane_of(m.topic(), m.partition(), m.key(), ordering) for m in records]


def position(msg: Message) -> tuple[TP, int]:
    """Return ((topic, partition), offset) of ``msg``."""
    return (msg.topic(), msg.partition()), msg.offset()


class PerEventProcessor:
    """Delivers every output event in its own request through ``handler``."""

    fill_wait_s = 0.0

    def __init__(self, handler: RecordHandler, *, closing: Any = None) -> None:
        self.handler = handler
        self.delivery = handler.workflow.delivery
        self._pool = ThreadPoolExecutor(
            max_workers=self.delivery.max_in_flight, thread_name_prefix="deliver"
        )
        self._closing = closing  # e.g. the sink whose HTTP client to close

    def open(self, consumer: Consumer) -> None:
        """Nothing to prepare."""

    def process(self, records: list[Message], owns: Owns) -> BatchResult:
        """Return the commit points after delivering ``records`` lane by lane."""
        self.handler.still_owned = owns
        prepared = prepare_batch(records, self.handler.transform)
        lanes = group_lanes(record_lanes(records, self.delivery.ordering))
        futures = [
            self._pool.submit(
                self._run_lane, [records[i] for i in lane], [prepared[i] for i in lane], owns
            )
            for lane in lanes
        ]
        unfinished = [pos for fut in futures for pos in fut.result()]
        return commit_points((position(m) for m in records), unfinished)

    def _run_lane(
        self, msgs: list[Message], prepared: list[Prepared], owns: Owns
    ) -> list[tuple[TP, int]]:
        """Deliver one lane in order; return the positions left unfinished."""
        for index, (msg, (deliveries, failure)) in enumerate(zip(msgs, prepared, strict=True)):
            if not owns(msg.topic(), msg.partition()) or not self.handler.finish(
                msg, deliveries, failure
            ):
                return [position(m) for m in msgs[index:]]
        return []

    def close(self) -> None:
        """Stop the pool and close the sink."""
        self._pool.shutdown(wait=True)
        if self._closing is not None:
            self._closing.close()
