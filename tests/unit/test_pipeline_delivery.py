"""Backoff schedule, breaker states, signatures and the delivery retry loop (no network)."""

import time
from datetime import UTC, datetime

import pytest

from streamdr.artifacts.api import ChangeEvent
from streamdr.pipeline.backoff import JITTER, backoff_delay, schedule
from streamdr.pipeline.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, BreakerOpen
from streamdr.pipeline.delivery import (
    SITE_HEADER,
    Deliverer,
    HttpSink,
    SinkError,
    counts_against_endpoint,
)
from streamdr.pipeline.transform import Delivery
from streamdr.signature import (
    SIGNATURE_HEADER,
    SignatureError,
    SignedFields,
    parse_signature,
    sign,
    verify,
)
from streamdr.workflows.model import Workflow


def test_backoff_doubles_and_caps():
    assert schedule(7, 1.0, 10.0) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert schedule(1, 1.0, 10.0) == []


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999])
def test_backoff_jitter_stays_within_bounds(rand):
    for attempt, nominal in enumerate([1, 2, 4, 8, 16, 30, 30], start=1):
        delay = backoff_delay(attempt, 1.0, 30.0, rand=lambda r=rand: r)
        assert nominal * (1 - JITTER / 2) <= delay <= nominal * (1 + JITTER / 2)


def test_backoff_rejects_attempt_zero_and_survives_huge_attempts():
    with pytest.raises(ValueError):
        backoff_delay(0, 1, 2)
    assert backoff_delay(10_000, 1.0, 60.0, rand=lambda: 0.5) == 60.0


def _failing():
    raise SinkError("HTTP 503", retryable=True)


def test_breaker_opens_after_threshold_then_half_opens_and_closes():
    changes = []
    br = Breaker(3, 0.2, counts=counts_against_endpoint, on_change=changes.append)
    for _ in range(2):
        with pytest.raises(SinkError):
            br.call(_failing)
    assert br.state == CLOSED and br.failures == 2
    with pytest.raises(SinkError):
        br.call(_failing)
    assert br.state == OPEN and 0 < br.retry_in() <= 0.2
    with pytest.raises(BreakerOpen):
        br.call(lambda: "never called")
    time.sleep(0.25)
    assert br.call(lambda: "trial") == "trial"
    assert br.state == CLOSED
    assert changes == [OPEN, HALF_OPEN, CLOSED]


def test_a_success_between_failures_resets_the_count_so_only_consecutive_ones_open_it():
    # A success with no failures counted skips the breaker's lock; one after failures must
    # still reset the count.
    br = Breaker(3, 10, counts=counts_against_endpoint)
    for _ in range(3):
        assert br.call(lambda: "ok") == "ok"
        assert br.failures == 0
    for _ in range(2):
        with pytest.raises(SinkError):
            br.call(_failing)
    assert br.call(lambda: "ok") == "ok" and br.failures == 0
    for _ in range(2):
        with pytest.raises(SinkError):
            br.call(_failing)
    assert br.state == CLOSED and br.failures == 2


def test_failed_trial_reopens_and_permanent_errors_do_not_count():
    br = Breaker(1, 0.1, counts=counts_against_endpoint)
    with pytest.raises(SinkError):
        br.call(_failing)
    time.sleep(0.15)
    with pytest.raises(SinkError):
        br.call(_failing)  # the half-open trial fails → open again
    assert br.state == OPEN
    br2 = Breaker(1, 60, counts=counts_against_endpoint)
    for _ in range(5):
        with pytest.raises(SinkError):
            br2.call(lambda: (_ for _ in ()).throw(SinkError("HTTP 400", retryable=False)))
    assert br2.state == CLOSED


def test_signature_round_trip_and_rejections():
    body, fields = b'{"a":1}', SignedFields("k", "wf", "2026-01-01T00:00:00+00:00")
    header = sign(b"s3cret", body, 1_700_000_000, fields)
    verify(b"s3cret", body, header, fields, now=1_700_000_010)
    assert parse_signature(header)[0] == 1_700_000_000
    with pytest.raises(SignatureError, match="does not match"):
        verify(b"other", body, header, fields, now=1_700_000_010)
    with pytest.raises(SignatureError, match="does not match"):
        verify(b"s3cret", body + b" ", header, fields, now=1_700_000_010)
    with pytest.raises(SignatureError, match="old"):
        verify(b"s3cret", body, header, fields, now=1_700_009_999)
    with pytest.raises(SignatureError, match="missing"):
        verify(b"s3cret", body, None, fields, now=0)
    with pytest.raises(SignatureError, match="needs"):
        verify(b"s3cret", body, "garbage", fields, now=0)


def _workflow(**retry):
    return Workflow.model_validate(
        {
            "name": "wf",
            "client": "c",
            "tier": "standard",
            "source": {"topic": "t"},
            "transformation": {"name": "x", "version": "1.0.0"},
            "sink": {"kind": "http", "url": "http://127.0.0.1:1/events"},
            "retry": {
                "max_attempts": 4,
                "initial_backoff_seconds": 1,
                "max_backoff_seconds": 4,
                **retry,
            },
            "breaker": {"failure_threshold": 10, "reset_timeout_seconds": 60},
        }
    )


def _delivery():
    event = ChangeEvent(
        "e1", "s", "t.t", "insert", {"id": 1}, None, {"id": 1}, datetime.now(UTC), "1"
    )
    return Delivery("e1", b"{}", None, {}, event)


def test_deliverer_retries_with_backoff_then_gives_up():
    waits = []
    wf = _workflow()
    br = Breaker(10, 60, counts=counts_against_endpoint)
    d = Deliverer(wf, lambda _d: _failing(), br, lambda s: waits.append(s) or True)
    outcome = d.deliver(_delivery())
    assert not outcome.delivered and outcome.attempts == 4 and "503" in (outcome.error or "")
    assert [round(w) for w in waits] == [1, 2, 4]


def test_deliverer_stops_at_permanent_error_and_succeeds_after_transient():
    wf = _workflow()
    br = Breaker(10, 60, counts=counts_against_endpoint)
    bad = Deliverer(
        wf,
        lambda _d: (_ for _ in ()).throw(SinkError("HTTP 401", retryable=False)),
        br,
        lambda s: True,
    )
    assert bad.deliver(_delivery()).attempts == 1
    calls = []

    def flaky(_d):
        calls.append(1)
        if len(calls) < 3:
            _failing()

    ok = Deliverer(wf, flaky, br, lambda s: True).deliver(_delivery())
    assert ok.delivered and ok.attempts == 3


def test_open_breaker_waits_without_spending_attempts_and_stop_aborts():
    wf = _workflow(max_attempts=2)
    br = Breaker(1, 0.3, counts=counts_against_endpoint)
    with pytest.raises(SinkError):
        br.call(_failing)  # opens it
    sent = []
    d = Deliverer(wf, sent.append, br, lambda s: time.sleep(s) or True)
    outcome = d.deliver(_delivery())
    assert outcome.delivered and outcome.attempts == 1 and len(sent) == 1
    with pytest.raises(SinkError):
        br.call(_failing)
    stopping = Deliverer(wf, sent.append, br, lambda s: False).deliver(_delivery())
    assert stopping.aborted and not stopping.delivered


def test_http_sink_names_the_delivering_site_only_when_it_knows_it():
    wf = _workflow()
    with_site = HttpSink(wf, b"s", site="dr").headers(_delivery())
    assert with_site[SITE_HEADER] == "dr" and with_site["Idempotency-Key"] == "e1"
    assert SITE_HEADER not in HttpSink(wf, None).headers(_delivery())


def test_http_sink_signs_the_headers_it_sends():
    sent = HttpSink(_workflow(), b"s").headers(_delivery())
    fields = SignedFields(
        sent["Idempotency-Key"], sent["Streamdr-Workflow"], sent["Streamdr-Event-Time"]
    )
    assert fields.workflow == "wf" and sent[SIGNATURE_HEADER].split(",")[1].startswith("v2=")
    verify(b"s", b"{}", sent[SIGNATURE_HEADER], fields, now=time.time())
    replayed = SignedFields("e1/1", fields.workflow, fields.event_time)
    with pytest.raises(SignatureError, match="does not match"):
        verify(b"s", b"{}", sent[SIGNATURE_HEADER], replayed, now=time.time())
