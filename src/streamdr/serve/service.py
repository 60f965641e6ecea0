"""`streamdr serve`: validate the schedule, join the election, serve the probes until stopped."""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

import uvicorn
from fastapi import APIRouter
from sqlalchemy import text

from streamdr.metadb.litestream import litestream_binary, prepare, sqlite_path
from streamdr.metadb.supervisor import LitestreamSupervisor
from streamdr.serve.app import build_app
from streamdr.serve.lease import default_owner
from streamdr.serve.runner import ServeContext
from streamdr.serve.scheduler import ControlPlane, Sidecar
from streamdr.serve.validate import validate_schedule
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


def make_context(settings: Settings, store: MetadataStore, owner: str | None) -> ServeContext:
    """Return the context of this process; raises DocumentError for an invalid schedule."""
    validate_schedule(settings)
    if settings.metadata_db.backup is not None and settings.metadata_db.backup.supervise:
        sqlite_path(store.url)  # fail at start-up, not in the election thread
        litestream_binary()
    ttl = timedelta(seconds=settings.schedule.lease_seconds)
    return ServeContext(settings, store, owner or default_owner(), ttl)


def serve(ctx: ServeContext, host: str, port: int, routers: Sequence[APIRouter] = ()) -> None:
    """Run the control plane and its HTTP app until SIGINT/SIGTERM; hand the lease over."""
    plane = ControlPlane(ctx, lambda: metadb_sidecars(ctx))
    ctx.store.engine  # noqa: B018 — fail fast (exit 3) when the metadata DB is unreachable
    plane.start()
    try:
        app = build_app(lambda: _status(ctx, plane), lambda: _ping(ctx.store), routers)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        _Server(config).run()
    finally:
        plane.stop()


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGTERM after shutdown.

    uvicorn re-sends a captured SIGTERM to the process when it returns, which kills it before
    ``serve`` can stop the scheduler, the Litestream sidecar and hand over the lease.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        handlers = {sig: signal.signal(sig, self._exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _exit(self, sig: int, frame: FrameType | None) -> None:
        self.should_exit = True


def metadb_sidecars(ctx: ServeContext) -> list[Sidecar]:
    """Return the Litestream supervisor when serve is to run the metadata DB's backup."""
    backup = ctx.settings.metadata_db.backup
    if backup is None or not backup.supervise:
        return []
    db = sqlite_path(ctx.store.url)
    return [LitestreamSupervisor(prepare(ctx.settings, db))]


def _status(ctx: ServeContext, plane: ControlPlane) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "owner": ctx.owner,
        "role": "leader" if plane.leader else "standby",
        "jobs": sorted(ctx.settings.schedule.jobs),
    }
    for sidecar in plane.sidecars:
        if isinstance(sidecar, LitestreamSupervisor):
            doc["litestream"] = sidecar.running()
    return doc


def _ping(store: MetadataStore) -> None:
    """Raise UnreachableError when the metadata DB does not answer."""
    with store.begin() as conn:
        conn.execute(text("SELECT 1"))
