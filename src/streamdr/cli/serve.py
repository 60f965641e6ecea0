"""`streamdr serve`: the DR control plane (scheduled jobs, leader lease, probes)."""

from __future__ import annotations

from typing import Annotated

import typer
from fastapi import APIRouter

from streamdr.cli.render import err, literal
from streamdr.cli.state import state
from streamdr.dashboard.web import build_router
from streamdr.serve.observe import observe_router
from streamdr.serve.service import make_context
from streamdr.serve.service import serve as run_serve
from streamdr.settings.model import Settings


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address of /health, /ready, /metrics.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port of the probes.")] = 8470,
    owner: Annotated[
        str | None, typer.Option(help="Lease owner id (default: host:pid:random).")
    ] = None,
    dashboard: Annotated[
        bool, typer.Option(help="Serve the readiness dashboard under /dashboard/.")
    ] = True,
) -> None:
    """Run the jobs of `schedule:` (one leader among serve processes) until SIGTERM."""
    st = state(ctx)
    sctx = make_context(st.settings(), st.store(), owner)
    # /observe/{site} answers `failover watch` processes elsewhere (their http observers).
    routers = [observe_router(sctx.settings)]
    if dashboard:
        routers.append(dashboard_router(sctx.settings))
    err.print(
        f"streamdr serve {literal(sctx.owner)}: {len(sctx.settings.schedule.jobs)} jobs, "
        f"probes and /observe/SITE on http://{literal(host)}:{port}"
        + (f", dashboard on http://{literal(host)}:{port}/dashboard/" if dashboard else "")
    )
    run_serve(sctx, host, port, routers)


def dashboard_router(settings: Settings) -> APIRouter:
    """Return the dashboard's pages under ``/dashboard`` (serve keeps its own /metrics)."""
    outer = APIRouter(prefix="/dashboard")
    outer.include_router(build_router(settings))
    return outer
