"""Delivering output events to a client HTTP endpoint: signature, breaker, backoff, verdict.

``HttpSink.send`` makes one POST and classifies the answer; ``Deliverer.deliver`` retries
with exponential backoff through the circuit breaker and returns an :class:`Outcome` — it never
raises for an endpoint problem, so the worker can dead-letter and move on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import h11
import httpcore
import httpx

from streamdr.observe import metrics
from streamdr.pipeline.backoff import backoff_delay
from streamdr.pipeline.batch import (
    BatchItem,
    EventResult,
    MalformedBatch,
    encode_batch,
    parse_results,
)
from streamdr.pipeline.breaker import Breaker, BreakerOpen, wait_for_trial
from streamdr.pipeline.transform import Delivery
from streamdr.signature import SIGNATURE_HEADER, SignedFields, sign
from streamdr.workflows.model import Workflow

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_TIME_HEADER = "Streamdr-Event-Time"
WORKFLOW_HEADER = "Streamdr-Workflow"
# The Kafka site whose worker sent the event: during a failover the client (and a drill) can
# see which site is delivering.
SITE_HEADER = "Streamdr-Site"


class SinkError(Exception):
    """One failed delivery attempt; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Outcome:
    """The verdict on one delivery: delivered, or the last error and how many attempts."""

    delivered: bool
    attempts: int
    error: str | None = None
    aborted: bool = False  # the worker is stopping; nothing was decided


MAX_ANSWER_BYTES = 4 * 1024 * 1024  # an endpoint's answer read at most (a batch's is ~100 B/event)
KEEPALIVE_EXPIRY_S = 5.0  # httpx's default: below common server idle timeouts (uvicorn 5 s)


def make_pool(connections: int = 1) -> httpcore.ConnectionPool:
    """Return a connection pool of ``connections`` kept-alive connections, HTTP/2 over TLS.

    HTTP/2 is offered through ALPN (an https endpoint that speaks it gets it); plain http stays
    HTTP/1.1 with kept-alive connections, so the hot path never waits for a handshake. TLS
    verification is httpx's (system trust, ``SSL_CERT_FILE``).
    """
    return httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
        http1=True,
        http2=True,
    )


@dataclass(frozen=True)
class Answer:
    """An endpoint's answer: status and (at most MAX_ANSWER_BYTES of) body."""

    status: int
    body: bytes


class HttpSink:
    """POSTs signed JSON bodies to one URL over kept-alive connections, one pool per thread.

    Each delivery thread gets its own one-connection pool on first use: one client shared by the
    64 threads of a per-event worker made them queue on its pool lock (74 % of py-spy's
    samples). The pool is httpcore's, the transport under httpx, without httpx's request and
    response models, cookie jar and redirect handling: those took ~60 % of the CPU a
    per-event delivery spent holding the GIL (py-spy --gil; docs/benchmarks.md).
    """

    def __init__(
        self,
        workflow: Workflow,
        secret: bytes | None,
        *,
        site: str | None = None,
    ) -> None:
        if workflow.sink.url is None:
            raise ValueError("an http sink needs a url")
        self.url = workflow.sink.url
        self.batch_url = batch_url(self.url)
        self._urls = {u: httpcore.URL(u) for u in (self.url, self.batch_url)}
        self._host = _host_header(self._urls[self.url])
        self.workflow = workflow.name
        self.secret = secret
        self.site = site
        self.timeout = workflow.sink.timeout_seconds
        t = self.timeout
        self._extensions = {"timeout": {"connect": min(5.0, t), "read": t, "write": t, "pool": t}}
        self._local = threading.local()
        self._made: list[httpcore.ConnectionPool] = []
        self._made_lock = threading.Lock()

    @property
    def pool(self) -> httpcore.ConnectionPool:
        """Return the calling thread's connection pool (made on first use)."""
        pool: httpcore.ConnectionPool | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = make_pool()
            with self._made_lock:
                self._made.append(pool)
            self._local.pool = pool
        return pool

    def headers(self, delivery: Delivery) -> dict[str, str]:
        """Return the request headers for ``delivery``.

        The v2 signature covers the exact body and the idempotency key, workflow and event time
        headers, so none of them can be changed on a captured request.
        """
        fields = SignedFields(
            idempotency_key=delivery.idempotency_key,
            workflow=self.workflow,
            event_time=delivery.event.commit_time.isoformat(),
        )
        extra = {f"Streamdr-Header-{k}": v for k, v in delivery.headers.items()}
        return self._signed_headers(fields, delivery.body, extra)

    def _signed_headers(
        self, fields: SignedFields, body: bytes, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        """Return the headers of one POST of ``body``: signed fields, ``extra``, site, signature."""
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: fields.idempotency_key,
            EVENT_TIME_HEADER: fields.event_time,
            WORKFLOW_HEADER: fields.workflow,
            **(extra or {}),
        }
        if self.site is not None:
            headers[SITE_HEADER] = self.site
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body, int(time.time()), fields)
        return headers

    def send(self, delivery: Delivery) -> None:
        """POST one delivery; raises SinkError (retryable or not) unless the answer is 2xx."""
        self._post(self.url, delivery.body, self.headers(delivery))

    def send_batch(self, items: Sequence[BatchItem]) -> list[EventResult]:
        """POST ``items`` as one signed batch; return the per-event results.

        Raises SinkError for the whole batch: transport errors, a non-2xx answer, or an answer
        that does not say what became of each event (retryable: nothing is known).
        """
        bid, body = encode_batch(items)
        fields = SignedFields(bid, self.workflow, items[-1].delivery.event.commit_time.isoformat())
        answer = self._post(self.batch_url, body, self._signed_headers(fields, body))
        try:
            results = json.loads(answer.body)
            return parse_results(results, [i.delivery.idempotency_key for i in items])
        except (ValueError, RecursionError, MalformedBatch) as exc:  # hostile or cut answer
            raise SinkError(
                f"unusable batch answer from {self.url}: {exc}", retryable=True
            ) from exc

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            raw = [(b"Host", self._host), (b"Content-Length", str(len(body)).encode())]
            raw += [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()]
        except UnicodeEncodeError as exc:
            raise SinkError(f"a header is not ASCII: {exc}", retryable=False) from exc
        try:
            answer = self._exchange(url, body, raw)
        except httpcore.TimeoutException as exc:
            raise SinkError(f"timeout after {self.timeout}s: {exc!r}", retryable=True) from exc
        except (httpcore.LocalProtocolError, h11.LocalProtocolError) as exc:
            raise SinkError(f"request refused by the HTTP library: {exc}", retryable=False) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, h11.ProtocolError) as exc:
            raise SinkError(
                f"endpoint unreachable: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        if 200 <= answer.status < 300:
            return answer
        detail = answer.body[:300].decode("utf-8", "replace").replace("\n", " ")
        raise SinkError(
            f"HTTP {answer.status} from {self.url}: {detail}",
            retryable=answer.status in RETRYABLE_STATUS,
        )

    def _exchange(self, url: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
        """Return the answer to one POST, its body cut at MAX_ANSWER_BYTES (a hostile endpoint
        cannot fill the worker's memory); raises httpcore's errors."""
        request = httpcore.Request(
            b"POST", self._urls[url], headers=headers, content=body, extensions=self._extensions
        )
        response = self.pool.handle_request(request)
        try:
            chunks, size = [], 0
            for chunk in response.stream:  # type: ignore[union-attr]
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_ANSWER_BYTES:
                    break
            return Answer(response.status, b"".join(chunks)[:MAX_ANSWER_BYTES])
        finally:
            response.close()

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._made_lock:
            made, self._made = self._made, []
        for pool in made:
            pool.close()


def _host_header(url: httpcore.URL) -> bytes:
    """Return the Host header of ``url`` (httpcore, unlike httpx, does not add it)."""
    host = b"[" + url.host + b"]" if b":" in url.host else url.host
    return host if url.port is None else host + b":" + str(url.port).encode()


def batch_url(url: str) -> str:
    """Return the batch URL of an events URL: ``…/events[/<channel>]`` → ``…/batches[/…]``.

    Any other URL gets ``/batch`` appended (the client's endpoint decides where batches go).
    """
    base, sep, rest = url.rstrip("/").rpartition("/events")
    if sep and (rest == "" or (rest.startswith("/") and "/" not in rest[1:])):
        return f"{base}/batches{rest}"
    return url.rstrip("/") + "/batch"


def counts_against_endpoint(exc: BaseException) -> bool:
    """Return True when ``exc`` says the endpoint is unwell (so the breaker counts it)."""
    return isinstance(exc, SinkError) and exc.retryable


class Deliverer:
    """Delivers one event with retries, backoff and the breaker; see :meth:`deliver`."""

    def __init__(
        self,
        workflow: Workflow,
        send: Callable[[Delivery], None],
        breaker: Breaker,
        sleep: Callable[[float], bool],
    ) -> None:
        self.workflow = workflow
        self.send = send
        self.breaker = breaker
        self.sleep = sleep  # returns False when the worker is stopping

    def deliver(self, delivery: Delivery) -> Outcome:
        """Return the outcome after at most ``retry.max_attempts`` real attempts.

        Waiting for an open breaker does not use up attempts: the record stays in Kafka (the
        backlog) until the endpoint gets a trial call, so an outage fills the backlog, not
        the DLQ. A permanent error (4xx) ends the attempts at once.
        """
        retry = self.workflow.retry
        error, attempts = "no attempt made", 0
        while attempts < retry.max_attempts:
            if not wait_for_trial(self.breaker, self.sleep):
                return Outcome(False, attempts, error, aborted=True)
            try:
                self._attempt(delivery)
            except BreakerOpen:
                continue  # another thread's failure re-opened it: wait again, no attempt used
            except SinkError as exc:
                attempts, error = attempts + 1, str(exc)
                if not exc.retryable:
                    return Outcome(False, attempts, error)
                if attempts < retry.max_attempts and not self.sleep(
                    backoff_delay(
                        attempts, retry.initial_backoff_seconds, retry.max_backoff_seconds
                    )
                ):
                    return Outcome(False, attempts, error, aborted=True)
                continue
            return Outcome(True, attempts + 1)
        return Outcome(False, attempts, error)

    def _attempt(self, delivery: Delivery) -> None:
        name = self.workflow.name
        started = time.perf_counter()
        try:
            self.breaker.call(lambda: self.send(delivery))
        except BreakerOpen:
            metrics.DELIVERY_ATTEMPTS.labels(name, "breaker_open").inc()
            raise
        except SinkError as exc:
            result = "retryable" if exc.retryable else "permanent"
            metrics.DELIVERY_ATTEMPTS.labels(name, result).inc()
            raise
        finally:
            metrics.DELIVERY_LATENCY.labels(name).observe(time.perf_counter() - started)
        metrics.DELIVERY_ATTEMPTS.labels(name, "ok").inc()
