"""The reference client endpoint (FastAPI): verify, apply once, count, and show the counts.

``POST /events`` and ``POST /events/{channel}`` take a JSON body with ``Idempotency-Key`` and
``Streamdr-Signature`` (v2) headers. Answers: 200 applied or duplicate (both are success for
the sender), 400 no key or not JSON, 401 bad signature, 413 body over the limit, 503 when down
or a failure is injected. The signature is checked before the body is parsed, and the body is
read with a cap. ``POST /batches[/{channel}]`` takes a batch envelope
(:mod:`streamdr.pipeline.batch`), applies it in one SQLite transaction and answers per event;
an injected failure answers ``retry`` for that event and the rest of its lane. ``GET /stats``
gives received / applied / duplicates (and rejections) in total
and per channel; ``GET /applied`` pages through applied events for verification;
``POST /admin/down|up`` need ``Authorization: Bearer <admin token>``.
"""

from __future__ import annotations

import hmac
import json
import random
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from streamdr.pipeline.batch import parse_envelope
from streamdr.pipeline.delivery import (
    EVENT_TIME_HEADER,
    IDEMPOTENCY_HEADER,
    SITE_HEADER,
    WORKFLOW_HEADER,
)
from streamdr.pipeline.endpoint.store import IdempotencyStore
from streamdr.signature import SIGNATURE_HEADER, SignatureError, SignedFields, verify

DEFAULT_CHANNEL = "default"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_APPLIED_PAGE = 10000


@dataclass
class EndpointState:
    """Behaviour switches of a running endpoint (``down`` changeable through /admin)."""

    secret: bytes | None
    fail_rate: float = 0.0
    down: bool = False
    rng: random.Random = field(default_factory=random.Random)
    admin_token: bytes | None = None  # None: the admin API answers 403
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    accept_v1: bool = False  # only while senders are upgraded: v1 does not cover the headers


class BodyTooLarge(Exception):
    """The request body is over the endpoint's limit (declared or streamed)."""


async def read_body(request: Request, max_bytes: int) -> bytes:
    """Return the request body; raises BodyTooLarge as soon as it is known to exceed the cap.

    A declared Content-Length over the cap is refused before a byte is read; a chunked body is
    read chunk by chunk and abandoned at the first chunk that crosses the cap.
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _admit(
    store: IdempotencyStore, state: EndpointState, channel: str, request: Request
) -> bytes | JSONResponse:
    """Return the request's body, or the refusal to send (503 while down, 413 over the limit)."""
    if state.down:
        store.count(channel, "refused_down")
        return JSONResponse({"error": "endpoint is down"}, status_code=503)
    try:
        return await read_body(request, state.max_body_bytes)
    except BodyTooLarge:
        store.count(channel, "rejected_bad_request")
        limit = state.max_body_bytes
        return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)


def create_app(store: IdempotencyStore, state: EndpointState) -> FastAPI:
    """Return the endpoint application over ``store``."""
    app = FastAPI(title="streamdr reference endpoint", docs_url=None, redoc_url=None)

    @app.post("/events")
    @app.post("/events/{channel}")
    async def receive(request: Request, channel: str = DEFAULT_CHANNEL) -> JSONResponse:
        body = await _admit(store, state, channel, request)
        if isinstance(body, JSONResponse):
            return body
        # Verification and one SQLite transaction take well under a millisecond: run them on
        # the event loop rather than paying a thread hop per event.
        return _receive(store, state, channel, body, request.headers)

    @app.post("/batches")
    @app.post("/batches/{channel}")
    async def receive_batch(request: Request, channel: str = DEFAULT_CHANNEL) -> JSONResponse:
        body = await _admit(store, state, channel, request)
        if isinstance(body, JSONResponse):
            return body
        # One SQLite transaction for the whole batch; like /events it stays on the event loop.
        return _receive_batch(store, state, channel, body, request.headers)

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        return {**store.stats(), "down": state.down, "fail_rate": state.fail_rate}

    @app.get("/applied")
    def applied(
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_APPLIED_PAGE)] = 1000,
        channel: str | None = None,
    ) -> dict[str, Any]:
        rows = store.applied(after, limit, channel)
        return {"items": [r.as_dict() for r in rows], "next": rows[-1].seq if rows else after}

    @app.post("/admin/down")
    def go_down(request: Request) -> JSONResponse:
        return _admin(state, request, down=True)

    @app.post("/admin/up")
    def go_up(request: Request) -> JSONResponse:
        return _admin(state, request, down=False)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _admin(state: EndpointState, request: Request, *, down: bool) -> JSONResponse:
    """Switch ``state.down`` for a caller holding the admin token; 403/401 otherwise."""
    if state.admin_token is None:
        return JSONResponse({"error": "the admin API is disabled (no token)"}, status_code=403)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(errors="replace"), state.admin_token
    ):
        return JSONResponse(
            {"error": "admin token missing or wrong"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    state.down = down
    return JSONResponse({"down": down})


def _signature_refusal(
    state: EndpointState, channel: str, body: bytes, headers: Any, store: IdempotencyStore
) -> JSONResponse | None:
    """Return a 401 answer when the endpoint checks signatures and this one fails, else None."""
    if state.secret is None:
        return None
    fields = SignedFields(
        idempotency_key=headers.get(IDEMPOTENCY_HEADER, ""),
        workflow=headers.get(WORKFLOW_HEADER, ""),
        event_time=headers.get(EVENT_TIME_HEADER, ""),
    )
    try:
        verify(
            state.secret,
            body,
            headers.get(SIGNATURE_HEADER),
            fields,
            time.time(),
            accept_v1=state.accept_v1,
        )
    except SignatureError as exc:
        store.count(channel, "rejected_signature")
        return JSONResponse({"error": f"signature rejected: {exc}"}, status_code=401)
    return None


def _receive_batch(
    store: IdempotencyStore, state: EndpointState, channel: str, body: bytes, headers: Any
) -> JSONResponse:
    refusal = _signature_refusal(state, channel, body, headers, store)
    if refusal is not None:
        return refusal
    try:
        events = parse_envelope(
            json.loads(body),
            headers.get(IDEMPOTENCY_HEADER, ""),
            headers.get(EVENT_TIME_HEADER, ""),
        )
    except (ValueError, RecursionError) as exc:  # MalformedBatch is a ValueError
        store.count(channel, "rejected_bad_request")
        return JSONResponse({"error": f"not a batch envelope: {exc}"}, status_code=400)
    statuses = store.apply_batch(
        events,
        channel,
        headers.get(WORKFLOW_HEADER),
        site=headers.get(SITE_HEADER),
        fail=lambda: bool(state.fail_rate) and state.rng.random() < state.fail_rate,
    )
    results = [
        {"idempotency_key": e.idempotency_key, "status": s}
        for e, s in zip(events, statuses, strict=True)
    ]
    return JSONResponse({"batch_id": headers.get(IDEMPOTENCY_HEADER), "results": results})


def _receive(
    store: IdempotencyStore, state: EndpointState, channel: str, body: bytes, headers: Any
) -> JSONResponse:
    refusal = _signature_refusal(state, channel, body, headers, store)
    if refusal is not None:
        return refusal
    key = headers.get(IDEMPOTENCY_HEADER)
    if not key:
        store.count(channel, "rejected_bad_request")
        return JSONResponse({"error": f"missing {IDEMPOTENCY_HEADER} header"}, status_code=400)
    try:
        json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a body nested thousands deep
        store.count(channel, "rejected_bad_request")
        return JSONResponse({"error": "body is not JSON"}, status_code=400)
    if state.fail_rate and state.rng.random() < state.fail_rate:
        store.count(channel, "failed_injected")
        return JSONResponse({"error": "injected failure"}, status_code=503)
    fresh = store.apply(
        key,
        channel,
        headers.get(WORKFLOW_HEADER),
        headers.get(EVENT_TIME_HEADER),
        body.decode(errors="replace"),
        site=headers.get(SITE_HEADER),
    )
    return JSONResponse({"applied": fresh, "duplicate": not fresh})
