"""Batched delivery and concurrency by key on the lab: kill -9 mid-batch, a half-applied batch,
and one key kept in order while other keys overtake it."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from streamdr.harness.ledger import identities
from streamdr.pipeline.batch import parse_envelope
from streamdr.pipeline.delivery import EVENT_TIME_HEADER, IDEMPOTENCY_HEADER, WORKFLOW_HEADER
from streamdr.pipeline.endpoint.app import EndpointState, _receive_batch
from streamdr.pipeline.endpoint.store import IdempotencyStore
from streamdr.pipeline.topics import read_topic
from tests.integration.pipeline_env import (
    SECRET,
    Writer,
    duplicates_applied,
    wait_until,
)
from tests.pipeline_helpers import serve_in_thread

pytestmark = pytest.mark.lab
BATCH = {"batch": {"max_events": 40, "max_wait_ms": 50}}
FAST_RETRY = {"max_attempts": 20, "initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.3}
PATIENT_BREAKER = {"failure_threshold": 50, "reset_timeout_seconds": 1}


@pytest.fixture
def env(pipeline_env):
    return pipeline_env


def _flaky_endpoint(env, fail_rate: float) -> None:
    env.endpoint.stop()
    env.endpoint.fail_rate = fail_rate
    env.endpoint.start()


def test_kill_9_of_a_batched_worker_mid_batch_loses_nothing(env):
    # Retries keep batches open longer, so the kill lands inside one.
    _flaky_endpoint(env, 0.3)
    wf = env.workflow(delivery=BATCH, retry=FAST_RETRY, breaker=PATIENT_BREAKER)
    env.start_cdc_process()
    first = env.start_worker_process([wf])
    writer = Writer(env).start()
    assert wait_until(lambda: env.endpoint.client.stats()["applied"] >= 150, 90)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    env.start_worker_process([wf])
    assert wait_until(lambda: len(writer.written) >= 600, 120)
    written = writer.stop()
    applied = env.wait_applied(written, timeout=120)
    assert not written - set(applied), f"lost: {len(written - set(applied))}"
    assert duplicates_applied(applied) == 0
    stats = env.endpoint.client.stats()
    assert stats["failed_injected"] > 0


def _half_then_fail_app(store: IdempotencyStore) -> FastAPI:
    """An endpoint that, the first time it sees a batch, applies half of it and answers 503."""
    state = EndpointState(SECRET.encode())
    seen: set[str] = set()
    app = FastAPI()

    @app.post("/batches/{channel}")
    async def batch(request: Request, channel: str) -> JSONResponse:
        body = await request.body()
        headers = request.headers
        if headers.get(IDEMPOTENCY_HEADER) not in seen:
            seen.add(headers.get(IDEMPOTENCY_HEADER, ""))
            events = parse_envelope(
                json.loads(body), headers[IDEMPOTENCY_HEADER], headers[EVENT_TIME_HEADER]
            )
            store.apply_batch(events[: len(events) // 2], channel, headers.get(WORKFLOW_HEADER))
            return JSONResponse({"error": "crashed after applying half"}, status_code=503)
        return _receive_batch(store, state, channel, body, headers)

    return app


def _applied_rows(store: IdempotencyStore) -> list[dict[str, Any]]:
    rows = [r.as_dict() for r in store.applied(limit=100_000)]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


def test_endpoint_that_applies_half_a_batch_then_fails_applies_nothing_twice(env, tmp_path):
    store = IdempotencyStore(tmp_path / "half.db")
    with serve_in_thread(_half_then_fail_app(store)) as url:
        wf = env.workflow(
            sink={"url": f"{url}/events/half"},
            delivery=BATCH,
            retry=FAST_RETRY,
            breaker=PATIENT_BREAKER,
        )
        env.start_cdc_process()
        env.start_worker_process([wf])
        expected = env.write(inserts=200)
        expected |= env.write(updates=list(range(1, 51)))
        assert wait_until(lambda: expected <= set(identities(_applied_rows(store))), 120)
    applied = identities(_applied_rows(store))
    assert duplicates_applied(applied) == 0
    stats = store.stats()
    assert stats["applied"] == 250 and stats["duplicates"] > 0  # the half re-sent, not re-applied


@pytest.mark.parametrize("mode", ["per-event", "batched"])
def test_a_key_stays_in_order_while_other_keys_overtake_it(env, mode):
    _flaky_endpoint(env, 0.3)
    delivery = {"ordering": "key", **(BATCH if mode == "batched" else {})}
    wf = env.workflow(delivery=delivery, retry=FAST_RETRY, breaker=PATIENT_BREAKER)
    env.start_cdc_process()
    env.start_worker_process([wf])
    expected = env.write(inserts=60)
    for _ in range(5):  # the same keys change again and again, interleaved with new keys
        expected |= env.write(updates=list(range(1, 31)))
        expected |= env.write(inserts=20)
    applied = env.wait_applied(expected, timeout=120)
    assert duplicates_applied(applied) == 0
    by_key: dict[int, list[int]] = {}
    for _op, rid, no in applied:
        by_key.setdefault(rid, []).append(no)
    assert all(nos == sorted(nos) for nos in by_key.values()), "a key was applied out of order"
    _, site = env.settings.site()
    partition = {
        json.loads(r.key())["id"]: r.partition() for r in read_topic("primary", site, env.topic)
    }
    overtaken = any(
        partition[a[1]] == partition[b[1]] and a[2] > b[2]
        for i, a in enumerate(applied)
        for b in applied[i + 1 : i + 40]
    )
    assert overtaken, "no key overtook another of its partition: ordering looks per partition"
