"""`streamdr serve`: validate the schedule, join the election, serve the probes until stopped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi import APIRouter
from sqlalchemy import text

from streamdr.serve.app import build_app
from streamdr.serve.lease import default_owner
from streamdr.serve.runner import ServeContext
from streamdr.serve.scheduler import ControlPlane
from streamdr.serve.validate import validate_schedule
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


def make_context(settings: Settings, store: MetadataStore, owner: str | None) -> ServeContext:
    """Return the context of this process; raises DocumentError for an invalid schedule."""
    validate_schedule(settings)
    ttl = timedelta(seconds=settings.schedule.lease_seconds)
    return ServeContext(settings, store, owner or default_owner(), ttl)


def serve(ctx: ServeContext, host: str, port: int, routers: Sequence[APIRouter] = ()) -> None:
    """Run the control plane and its HTTP app until SIGINT/SIGTERM; hand the lease over."""
    plane = ControlPlane(ctx)
    ctx.store.engine  # noqa: B018 — fail fast (exit 3) when the metadata DB is unreachable
    plane.start()
    try:
        app = build_app(lambda: _status(ctx, plane), lambda: _ping(ctx.store), routers)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        uvicorn.Server(config).run()
    finally:
        plane.stop()


def _status(ctx: ServeContext, plane: ControlPlane) -> dict[str, Any]:
    return {
        "owner": ctx.owner,
        "role": "leader" if plane.leader else "standby",
        "jobs": sorted(ctx.settings.schedule.jobs),
    }


def _ping(store: MetadataStore) -> None:
    """Raise UnreachableError when the metadata DB does not answer."""
    with store.begin() as conn:
        conn.execute(text("SELECT 1"))
