"""`streamdr dashboard`: serve the DR readiness web dashboard alone (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from streamdr.cli.render import err
from streamdr.cli.state import state
from streamdr.dashboard.web import build_app
from streamdr.errors import InputError


def dashboard(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8088,
    probe: Annotated[
        bool, typer.Option(help="Ask each site's Kafka whether it answers (site health).")
    ] = True,
) -> None:
    """Serve the readiness page, /status/<client>, /api/readiness and /metrics until stopped."""
    if not 0 < port < 65536:
        raise InputError(f"port {port} is out of range", hint="Pass --port between 1 and 65535.")
    settings = state(ctx).settings()
    err.print(f"Dashboard on http://{host}:{port}/")
    config = uvicorn.Config(
        build_app(settings, probe=probe),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()
