"""The read-only web dashboard: one readiness page, per-client status pages, JSON and metrics.

``build_router(settings)`` is what `streamdr serve` mounts; ``build_app(settings)`` serves it
alone (`streamdr dashboard`). Every value is rendered through Jinja with autoescape on; the
chart data travels as JSON in a ``<script type="application/json">`` (``tojson`` escapes it).
Static files are a fixed list, never a path from the request.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader

from streamdr.dashboard.collect import publish
from streamdr.dashboard.gather import gather
from streamdr.dashboard.model import (
    Readiness,
    active_alerts,
    client_status,
    drill_trends,
    never_run_drills,
    verdicts,
)
from streamdr.observe.metrics import exposition
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore

STATIC = {
    "chart-4.4.9.umd.js": "text/javascript",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("streamdr.dashboard", "templates"),
        autoescape=True,  # every page quotes names read from the DB and from lag.json
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _base(request: Request) -> str:
    """Return the URL path the router is mounted at (static links work under any prefix)."""
    return request.url_for("dashboard_static", name="x").path.rsplit("/static/", 1)[0]


def page_context(r: Readiness) -> dict[str, Any]:
    """Return the template variables of the readiness page."""
    return {
        "r": r,
        "verdicts": verdicts(r),
        "alerts": active_alerts(r),
        "last_runs": r.last_runs(),
        "trends": drill_trends(r),
        "ages": {b.kind: r.backup_age(b.kind) for b in r.backups},
        "lag_age": r.lag_sample_age(),
        "never_run": never_run_drills(r),
        "format_age": format_age,
    }


def format_age(seconds: float) -> str:
    """Return an age the way a reader scans it: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def readiness_doc(r: Readiness) -> dict[str, Any]:
    """Return the readiness facts, verdicts and alerts as one JSON-ready document."""
    return {
        "at": r.at.isoformat(),
        "active_site": r.failover.active_site,
        "tiers": [v.as_dict() for v in verdicts(r)],
        "alerts": [a.__dict__ for a in active_alerts(r)],
        "sites": [s.__dict__ for s in r.sites],
        "topics": [t.__dict__ for t in r.topics],
        "backups": [
            {"kind": b.kind, "configured": b.configured, "age_seconds": r.backup_age(b.kind)}
            for b in r.backups
        ],
        "drills_never_run": never_run_drills(r),
        "drills": drill_trends(r),
        "failover_in_progress": r.failover.in_progress,
    }


def build_router(settings: Settings, *, probe: bool = True) -> APIRouter:
    """Return the dashboard's routes for ``settings`` (read-only; each request reads afresh)."""
    router = APIRouter()
    env = _environment()

    def readiness() -> Readiness:
        return gather(settings, MetadataStore.from_settings(settings), probe=probe)

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        ctx = page_context(readiness())
        return HTMLResponse(env.get_template("index.html").render(base=_base(request), **ctx))

    @router.get("/api/readiness")
    def api_readiness() -> JSONResponse:
        return JSONResponse(readiness_doc(readiness()))

    @router.get("/metrics")
    def metrics() -> Response:
        publish(readiness())
        return Response(exposition(), media_type=METRICS_TYPE)

    @router.get("/status/{client}", response_class=HTMLResponse)
    def status(request: Request, client: str) -> HTMLResponse:
        r = readiness()
        if not CLIENT_NAME.match(client) or client not in r.clients:
            return HTMLResponse("<h1>Unknown client</h1>", status_code=404)
        shown = client_status(r, client)
        page = env.get_template("status.html").render(
            base=_base(request),
            client=client,
            state=shown.state,
            css=shown.css,
            sites=shown.sites,
            failover=shown.failover,
            incidents=r.failover.history,
            at=r.at,
        )
        return HTMLResponse(page)

    @router.get("/static/{name}", name="dashboard_static")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        data = files("streamdr.dashboard").joinpath("static", name).read_bytes()
        return Response(data, media_type=STATIC[name])

    return router


def build_app(settings: Settings, *, probe: bool = True) -> FastAPI:
    """Return a FastAPI app serving only the dashboard."""
    app = FastAPI(title="streamdr dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(build_router(settings, probe=probe))
    return app
