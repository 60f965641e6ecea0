"""Lanes, commit points, the batch envelope and the batched/per-key processors (no Kafka)."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import httpcore
import pytest

from streamdr.artifacts.api import ChangeEvent
from streamdr.pipeline.batch import (
    BatchItem,
    EventResult,
    IncomingEvent,
    MalformedBatch,
    batch_id,
    encode_batch,
    parse_envelope,
    parse_results,
)
from streamdr.pipeline.batched import BatchedProcessor
from streamdr.pipeline.breaker import Breaker
from streamdr.pipeline.delivery import Deliverer, HttpSink, SinkError, counts_against_endpoint
from streamdr.pipeline.endpoint.app import EndpointState, create_app
from streamdr.pipeline.endpoint.store import IdempotencyStore
from streamdr.pipeline.events import encode_event
from streamdr.pipeline.handler import RecordHandler
from streamdr.pipeline.per_event import PerEventProcessor
from streamdr.pipeline.progress import assign_streams, commit_points, group_lanes, lane_of
from streamdr.pipeline.transform import Delivery
from streamdr.signature import SignedFields, signing_input
from streamdr.workflows.model import Workflow
from tests.pipeline_helpers import passthrough, serve_in_thread

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _workflow(url="http://127.0.0.1:1/events/a", **delivery):
    return Workflow(
        name="wf",
        client="c",
        tier="standard",
        source={"topic": "t"},
        transformation={"name": "x", "version": "1.0.0"},
        sink={"url": url},
        retry={"max_attempts": 3, "initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.02},
        dlq={"enabled": False},
        delivery=delivery or "at-least-once",
    )


class FakeMsg:
    """The part of confluent_kafka.Message a processor reads."""

    def __init__(self, offset, key, partition=0, n=None):
        event = ChangeEvent(
            f"{offset:032x}",
            "src",
            "s.t",
            "insert",
            {"id": key},
            None,
            {"id": key, "n": offset if n is None else n},
            T0 + timedelta(seconds=offset),
            "p",
        )
        rec = encode_event(event, "t")
        self._offset, self._partition, self._rec = offset, partition, rec

    def topic(self):
        return "t"

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def key(self):
        return self._rec.key

    def value(self):
        return self._rec.value

    def headers(self):
        return self._rec.headers

    def timestamp(self):
        return (0, None)

    def error(self):
        return None


def test_commit_points_stop_at_the_first_unfinished_event_per_partition():
    offsets = [(("t", 0), o) for o in range(10, 15)] + [(("t", 1), o) for o in range(3, 5)]
    result = commit_points(offsets, [(("t", 0), 13), (("t", 0), 12)])
    assert result.finished == {("t", 0): 12, ("t", 1): 5}
    assert result.rewind == {("t", 0): 12}
    nothing = commit_points([(("t", 0), 7), (("t", 0), 8)], [(("t", 0), 7)])
    assert nothing.finished == {} and nothing.rewind == {("t", 0): 7}


def test_lanes_follow_the_ordering_setting():
    assert lane_of("t", 0, b"a", "key") != lane_of("t", 0, b"b", "key")
    assert lane_of("t", 0, b"a", "partition") == lane_of("t", 0, b"b", "partition")
    assert lane_of("t", 0, None, "key") == lane_of("t", 0, b"x", "partition")
    assert lane_of("t", 0, b"a", "key") != lane_of("t", 1, b"a", "key")
    assert group_lanes(["x", "y", "x", "z", "y"]) == [[0, 2], [1, 4], [3]]
    lanes = [lane_of("t", 0, bytes([i % 7]), "key") for i in range(50)]
    streams = assign_streams(lanes, 3)
    assert sorted(i for s in streams for i in s) == list(range(50))
    for stream in streams:
        assert stream == sorted(stream)
        assert not {lanes[i] for i in stream} & {
            lanes[i] for s in streams if s is not stream for i in s
        }


def _items(n, lane="L"):
    msgs = [FakeMsg(i, i) for i in range(n)]
    out = []
    for m in msgs:
        ev = ChangeEvent(f"{m.offset():032x}", "src", "s.t", "insert", {"id": 1}, None, {}, T0, "p")
        out.append(
            BatchItem(Delivery(f"k{m.offset()}", b'{"n":%d}' % m.offset(), None, {}, ev), lane)
        )
    return out


def test_envelope_round_trip_binds_the_signed_headers_to_the_events():
    items = _items(3)
    bid, body = encode_batch(items)
    assert bid == batch_id(["k0", "k1", "k2"]) and bid.startswith("b1-")
    doc = json.loads(body)
    events = parse_envelope(doc, bid, T0.isoformat())
    assert [e.idempotency_key for e in events] == ["k0", "k1", "k2"]
    assert events[1].payload == '{"n":1}'
    with pytest.raises(MalformedBatch, match="batch_id"):
        parse_envelope(doc, batch_id(["k0", "k1"]), T0.isoformat())
    with pytest.raises(MalformedBatch, match="last event"):
        parse_envelope(doc, bid, "2030-01-01T00:00:00+00:00")
    doc["events"].append(dict(doc["events"][0]))
    with pytest.raises(MalformedBatch, match="twice"):
        parse_envelope(doc, bid, T0.isoformat())


def test_batch_signature_covers_each_events_key_in_the_body():
    _, body = encode_batch(_items(2))
    signed = signing_input(1700000000, SignedFields("b1-x", "wf", T0.isoformat()), body)
    assert b'"idempotency_key":"k0"' in signed and b'"idempotency_key":"k1"' in signed


@pytest.mark.parametrize(
    "doc",
    [
        {"results": []},
        {
            "results": [
                {"idempotency_key": "k1", "status": "applied"},
                {"idempotency_key": "k0", "status": "applied"},
            ]
        },
        {
            "results": [
                {"idempotency_key": "k0", "status": "ok"},
                {"idempotency_key": "k1", "status": "applied"},
            ]
        },
        ["not", "a", "dict"],
    ],
)
def test_unusable_batch_answers_are_refused(doc):
    with pytest.raises(MalformedBatch):
        parse_results(doc, ["k0", "k1"])


def _handler(wf, deliver=None):
    breaker = Breaker(100, 1.0, counts=counts_against_endpoint)
    deliverer = Deliverer(wf, deliver or (lambda d: None), breaker, lambda s: time.sleep(s) or True)
    return RecordHandler(wf, passthrough, deliverer, None, lambda s: True, lambda t, p: True)


class HalfThenFail:
    """A sink over the real store that applies half of the first batch, then fails it."""

    def __init__(self, store):
        self.store, self.calls = store, 0

    def send_batch(self, items):
        self.calls += 1
        events = [
            IncomingEvent(i.delivery.idempotency_key, i.lane, None, i.delivery.body.decode())
            for i in items
        ]
        if self.calls == 1:
            self.store.apply_batch(events[: len(events) // 2], "a", "wf")
            raise SinkError("HTTP 503 after applying half", retryable=True)
        return [
            EventResult(e.idempotency_key, s)
            for e, s in zip(events, self.store.apply_batch(events, "a", "wf"), strict=True)
        ]

    def close(self):
        pass


def test_a_batch_half_applied_then_failed_is_retried_without_applying_anything_twice(tmp_path):
    store = IdempotencyStore(tmp_path / "ep.db")
    wf = _workflow(batch={"max_events": 50, "max_wait_ms": 0})
    breaker = Breaker(100, 1.0, counts=counts_against_endpoint)
    sink = HalfThenFail(store)
    proc = BatchedProcessor(_handler(wf), sink, breaker, lambda s: True)
    msgs = [FakeMsg(i, i % 5) for i in range(20)]
    result = proc.process(msgs, lambda t, p: True)
    assert result.finished == {("t", 0): 20} and result.rewind == {}
    stats = store.stats()
    assert (stats["applied"], stats["duplicates"]) == (20, 10)
    assert sink.calls == 2
    proc.close()


def test_batches_through_the_reference_endpoint_keep_each_key_in_order(tmp_path):
    store = IdempotencyStore(tmp_path / "ep.db")
    state = EndpointState(b"s", fail_rate=0.3)
    with serve_in_thread(create_app(store, state)) as url:
        wf = _workflow(
            f"{url}/events/a", batch={"max_events": 7, "max_wait_ms": 0}, max_in_flight=14
        )
        sink = HttpSink(wf, b"s")
        breaker = Breaker(1000, 0.01, counts=counts_against_endpoint)
        wf = wf.model_copy(update={"retry": wf.retry.model_copy(update={"max_attempts": 50})})
        proc = BatchedProcessor(_handler(wf), sink, breaker, lambda s: True)
        msgs = [FakeMsg(i, i % 4) for i in range(60)]
        result = proc.process(msgs, lambda t, p: True)
        proc.close()
    assert result.finished == {("t", 0): 60}
    rows = store.applied(limit=1000)
    assert len(rows) == 60 and store.stats()["failed_injected"] > 0
    for key in range(4):
        seen = [
            json.loads(r.payload)["row"]["n"]
            for r in rows
            if json.loads(r.payload)["key"]["id"] == key
        ]
        assert seen == sorted(seen) and len(seen) == 15


def test_a_copy_of_an_event_in_one_batch_goes_in_the_next_post_as_a_duplicate(tmp_path):
    # Active-active after a failover: the replicated copy of an event and the CDC re-read of the
    # same change reach one worker; the reference endpoint refused a batch naming a key twice
    # (HTTP 400, the whole batch dead-lettered — found by the batched site-failover drill).
    store = IdempotencyStore(tmp_path / "ep.db")
    with serve_in_thread(create_app(store, EndpointState(b"s"))) as url:
        wf = _workflow(f"{url}/events/a", batch={"max_events": 50, "max_wait_ms": 0})
        breaker = Breaker(100, 1.0, counts=counts_against_endpoint)
        proc = BatchedProcessor(_handler(wf), HttpSink(wf, b"s"), breaker, lambda s: True)
        msgs = [FakeMsg(i, i % 5) for i in range(10)]
        copy = FakeMsg(10, 3)
        copy._rec = msgs[3]._rec  # the same event (same id) at a later offset
        result = proc.process([*msgs, copy], lambda t, p: True)
        proc.close()
    assert result.finished == {("t", 0): 11} and result.rewind == {}
    stats = store.stats()
    assert (stats["applied"], stats["duplicates"]) == (10, 1)


def test_a_slow_key_holds_back_only_its_own_events():
    slow_started = threading.Event()
    release = threading.Event()
    order = []

    def deliver(d):
        key = json.loads(d.body)["key"]["id"]
        if key == 0 and not slow_started.is_set():
            slow_started.set()
            assert release.wait(5)
        order.append((key, json.loads(d.body)["row"]["n"]))

    wf = _workflow(max_in_flight=4)
    proc = PerEventProcessor(_handler(wf, deliver))
    msgs = [FakeMsg(i, 0 if i < 3 else 1 + i % 3) for i in range(12)]
    done = []
    worker = threading.Thread(target=lambda: done.append(proc.process(msgs, lambda t, p: True)))
    worker.start()
    assert slow_started.wait(5)
    deadline = time.monotonic() + 5
    while len(order) < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(order) == 9 and all(k != 0 for k, _ in order)  # other keys overtook key 0
    release.set()
    worker.join(5)
    assert [n for k, n in order if k == 0] == [0, 1, 2]
    assert done[0].finished == {("t", 0): 12}
    proc.close()


def test_partition_ordering_delivers_strictly_in_offset_order():
    order = []
    wf = _workflow(ordering="partition", max_in_flight=8)
    proc = PerEventProcessor(_handler(wf, lambda d: order.append(json.loads(d.body)["row"]["n"])))
    proc.process([FakeMsg(i, i % 5) for i in range(30)], lambda t, p: True)
    assert order == list(range(30))
    proc.close()


def test_an_unowned_partition_is_rewound_not_skipped():
    wf = _workflow(max_in_flight=2)
    proc = PerEventProcessor(_handler(wf))
    msgs = [FakeMsg(i, i, partition=i % 2) for i in range(6)]
    result = proc.process(msgs, lambda t, p: p == 0)
    assert result.finished == {("t", 0): 5} and result.rewind == {("t", 1): 1}
    proc.close()


def test_http_pool_reuses_connections_and_offers_http2():
    sink = HttpSink(_workflow(), None)
    assert isinstance(sink.pool, httpcore.ConnectionPool)
    assert sink.pool is sink.pool  # kept, not made per request
    assert sink.pool._http2 is True  # negotiated by ALPN over TLS
    sink.close()


def test_each_delivery_thread_has_its_own_pool_and_close_closes_them_all():
    # One client shared by 64 threads spent most of the worker's time on its pool lock.
    sink = HttpSink(_workflow(), None)
    seen: list[httpcore.ConnectionPool] = []
    threads = [threading.Thread(target=lambda: seen.extend([sink.pool, sink.pool]))]
    threads.append(threading.Thread(target=lambda: seen.extend([sink.pool, sink.pool])))
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert seen[0] is seen[1] and seen[2] is seen[3] and seen[0] is not seen[2]
    assert len(sink._made) == 2
    sink.close()
    assert sink._made == []


def test_a_closed_breaker_lets_deliveries_run_concurrently():
    breaker = Breaker(3, 1.0, counts=counts_against_endpoint)
    inside = threading.Barrier(2, timeout=5)
    threads = [threading.Thread(target=breaker.call, args=(inside.wait,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not inside.broken  # both calls were inside func at once


def test_batches_respect_max_bytes_with_the_real_envelope_size(tmp_path):
    sent = []

    class Sink:
        def send_batch(self, items):
            sent.append(len(encode_batch(items)[1]))
            return [EventResult(i.delivery.idempotency_key, "applied") for i in items]

        def close(self):
            pass

    wf = _workflow(batch={"max_events": 1000, "max_bytes": 2048, "max_wait_ms": 0})
    breaker = Breaker(100, 1.0, counts=counts_against_endpoint)
    proc = BatchedProcessor(_handler(wf), Sink(), breaker, lambda s: True)
    result = proc.process([FakeMsg(i, i % 3) for i in range(40)], lambda t, p: True)
    proc.close()
    assert result.finished == {("t", 0): 40}
    assert len(sent) > 1 and max(sent) <= 2048


def test_a_key_left_unfinished_is_rewound_before_its_later_events_are_sent():
    # Key 0 fails until it is out of attempts (DLQ disabled: unfinished) while keys 1-2 go on;
    # the partition rewinds to key 0's first event and none of key 0's later events was sent,
    # so the batch read again from the rewind applies key 0 in order.
    sent: list[tuple[int, int]] = []
    failing = {"on": True}

    def deliver(d):
        row = json.loads(d.body)["row"]
        if row["id"] == 0 and failing["on"]:
            raise SinkError("HTTP 503", retryable=True)
        sent.append((row["id"], row["n"]))

    proc = PerEventProcessor(_handler(_workflow(max_in_flight=4), deliver))
    msgs = [FakeMsg(i, i % 3) for i in range(9)]
    first = proc.process(msgs, lambda t, p: True)
    assert first.rewind == {("t", 0): 0} and ("t", 0) not in first.finished
    assert [n for k, n in sent if k == 0] == []
    failing["on"] = False
    again = proc.process(msgs[first.rewind[("t", 0)] :], lambda t, p: True)
    assert again.finished == {("t", 0): 9} and not again.rewind
    assert [n for k, n in sent if k == 0] == [0, 3, 6]
    proc.close()


def _answering(status=200, body=b"{}", delay=0.0, headers=None):
    """A FastAPI app that answers every POST with ``status`` and ``body`` after ``delay`` s."""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI()

    @app.post("/{path:path}")
    async def answer(request: Request, path: str) -> Response:
        seen.append((path, dict(request.headers)))
        if delay:
            import asyncio

            await asyncio.sleep(delay)
        return Response(body, status_code=status, headers=headers)

    seen: list = []
    app.state.seen = seen
    return app


def test_the_sink_sends_host_and_length_and_reads_the_answer():
    app = _answering(503, b"busy\nnow")
    with serve_in_thread(app) as url:
        sink = HttpSink(_workflow(f"{url}/events/a"), b"s")
        with pytest.raises(SinkError, match=r"HTTP 503 from .*: busy now") as err:
            sink.send(_items(1)[0].delivery)
        sink.close()
    assert err.value.retryable
    path, headers = app.state.seen[0]
    assert path == "events/a" and headers["host"] == url.split("//")[1]
    assert int(headers["content-length"]) > 0 and "streamdr-signature" in headers


def test_an_answer_is_read_only_up_to_the_cap(monkeypatch):
    # A hostile endpoint cannot fill the worker's memory: the batch answer is cut and unusable.
    import streamdr.pipeline.delivery as delivery

    monkeypatch.setattr(delivery, "MAX_ANSWER_BYTES", 1000)
    with serve_in_thread(_answering(200, b'{"results": [' + b" " * 50_000 + b"]}")) as url:
        wf = _workflow(f"{url}/events/a", batch={"max_events": 5, "max_wait_ms": 0})
        sink = HttpSink(wf, b"s")
        items = _items(2)
        with pytest.raises(SinkError, match="unusable batch answer") as err:
            sink.send_batch(items)
        sink.close()
    assert err.value.retryable


def test_transport_failures_are_retryable_and_a_bad_header_is_not():
    sink = HttpSink(_workflow("http://127.0.0.1:1/events/a"), None)  # nobody listens on port 1
    with pytest.raises(SinkError, match="endpoint unreachable: ConnectError") as err:
        sink.send(_items(1)[0].delivery)
    assert err.value.retryable
    sink.close()
    with serve_in_thread(_answering()) as url:
        sink = HttpSink(_workflow(f"{url}/events/a"), None)
        with pytest.raises(SinkError, match="not ASCII") as err:
            sink._post(sink.url, b"{}", {"Streamdr-Header-x": "caf\u00e9"})
        assert not err.value.retryable
        with pytest.raises(SinkError, match="refused by the HTTP library") as err:
            sink._post(sink.url, b"{}", {"Streamdr-Header-x": "a\r\nInjected: 1"})
        assert not err.value.retryable
        sink.close()


def test_a_slow_endpoint_is_a_retryable_timeout():
    with serve_in_thread(_answering(200, delay=3.0)) as url:
        wf = _workflow(f"{url}/events/a")
        wf = wf.model_copy(update={"sink": wf.sink.model_copy(update={"timeout_seconds": 0.3})})
        sink = HttpSink(wf, None)
        started = time.monotonic()
        with pytest.raises(SinkError, match=r"timeout after 0\.3s") as err:
            sink.send(_items(1)[0].delivery)
        took = time.monotonic() - started
        sink.close()
    assert err.value.retryable and took < 2.5
