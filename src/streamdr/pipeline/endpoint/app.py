"""The reference client endpoint (FastAPI): verify, apply once, count, and show the counts.

``POST /events`` and ``POST /events/{channel}`` take a JSON body with ``Idempotency-Key`` and
``Streamdr-Signature`` headers. Answers: 200 applied or duplicate (both are success for the
sender), 400 no key or not JSON, 401 bad signature, 503 when down or a failure is injected.
``GET /stats`` gives received / applied / duplicates (and rejections) in total and per
channel; ``GET /applied`` pages through applied events for verification.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from streamdr.pipeline.delivery import (
    EVENT_TIME_HEADER,
    IDEMPOTENCY_HEADER,
    SITE_HEADER,
    WORKFLOW_HEADER,
)
from streamdr.pipeline.endpoint.store import IdempotencyStore
from streamdr.pipeline.signing import SIGNATURE_HEADER, SignatureError, verify

DEFAULT_CHANNEL = "default"


@dataclass
class EndpointState:
    """Behaviour switches of a running endpoint (changeable through /admin)."""

    secret: bytes | None
    fail_rate: float = 0.0
    down: bool = False
    rng: random.Random = field(default_factory=random.Random)


def create_app(store: IdempotencyStore, state: EndpointState) -> FastAPI:
    """Return the endpoint application over ``store``."""
    app = FastAPI(title="streamdr reference endpoint", docs_url=None, redoc_url=None)

    @app.post("/events")
    @app.post("/events/{channel}")
    async def receive(request: Request, channel: str = DEFAULT_CHANNEL) -> JSONResponse:
        body = await request.body()
        # Verification and one SQLite transaction take well under a millisecond: run them on
        # the event loop rather than paying a thread hop per event.
        return _receive(store, state, channel, body, request.headers)

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        return {**store.stats(), "down": state.down, "fail_rate": state.fail_rate}

    @app.get("/applied")
    def applied(after: int = 0, limit: int = 1000, channel: str | None = None) -> dict[str, Any]:
        rows = store.applied(after, min(limit, 10000), channel)
        return {"items": [r.as_dict() for r in rows], "next": rows[-1].seq if rows else after}

    @app.post("/admin/down")
    def go_down() -> dict[str, bool]:
        state.down = True
        return {"down": True}

    @app.post("/admin/up")
    def go_up() -> dict[str, bool]:
        state.down = False
        return {"down": False}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _receive(
    store: IdempotencyStore, state: EndpointState, channel: str, body: bytes, headers: Any
) -> JSONResponse:
    if state.down:
        store.count(channel, "refused_down")
        return JSONResponse({"error": "endpoint is down"}, status_code=503)
    if state.secret is not None:
        try:
            verify(state.secret, body, headers.get(SIGNATURE_HEADER), time.time())
        except SignatureError as exc:
            store.count(channel, "rejected_signature")
            return JSONResponse({"error": f"signature rejected: {exc}"}, status_code=401)
    key = headers.get(IDEMPOTENCY_HEADER)
    if not key:
        store.count(channel, "rejected_bad_request")
        return JSONResponse({"error": f"missing {IDEMPOTENCY_HEADER} header"}, status_code=400)
    try:
        json.loads(body)
    except ValueError:
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
