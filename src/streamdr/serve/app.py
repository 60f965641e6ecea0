"""The serve process's HTTP app: ``/health``, ``/ready``, ``/metrics`` and extra routers.

``/health`` is liveness (200 while the process answers, with its role). ``/ready`` is 200 when
the metadata DB answers, 503 otherwise: a standby is ready too, it is what takes over. Other
packages (the dashboard) add their pages by passing routers to :func:`build_app`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response

from streamdr.errors import StreamdrError
from streamdr.observe.metrics import exposition

StatusFn = Callable[[], dict[str, Any]]
ReadyFn = Callable[[], None]


def build_app(status: StatusFn, ready: ReadyFn, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """Return the app; ``ready`` raises StreamdrError when serve cannot do its work."""
    app = FastAPI(title="streamdr control plane", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", **status()}

    @app.get("/ready")
    def ready_probe() -> JSONResponse:
        try:
            ready()
        except StreamdrError as exc:
            return JSONResponse({"ready": False, "error": exc.message}, status_code=503)
        return JSONResponse({"ready": True, **status()})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(exposition(), media_type="text/plain; version=0.0.4")

    for router in routers:
        app.include_router(router)
    return app
