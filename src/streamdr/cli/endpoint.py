"""`streamdr endpoint …`: the reference client endpoint (verifies, applies once, counts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from streamdr.cli.options import Json
from streamdr.cli.render import err, literal, out, print_json
from streamdr.errors import InputError
from streamdr.pipeline.endpoint.app import DEFAULT_MAX_BODY_BYTES, EndpointState
from streamdr.pipeline.endpoint.client import EndpointClient
from streamdr.pipeline.endpoint.server import serve as serve_endpoint
from streamdr.signature import secret_from_env

app = typer.Typer(
    help="The reference client endpoint: proves nothing is lost and nothing applied twice.",
    no_args_is_help=True,
)
DEFAULT_SECRET_ENV = "STREAMDR_ENDPOINT_SECRET"
DEFAULT_ADMIN_TOKEN_ENV = "STREAMDR_ENDPOINT_ADMIN_TOKEN"


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8900,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    db: Annotated[Path, typer.Option(help="SQLite idempotency store.")] = Path(
        ".streamdr/endpoint.db"
    ),
    secret_env: Annotated[
        str, typer.Option(help="Environment variable holding the HMAC signing secret.")
    ] = DEFAULT_SECRET_ENV,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Accept unsigned events (never in production).")
    ] = False,
    fail_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Answer 503 to this fraction of events.")
    ] = 0.0,
    down: Annotated[
        bool, typer.Option("--down", help="Start answering 503 to every event.")
    ] = False,
    admin_token_env: Annotated[
        str,
        typer.Option(help="Environment variable holding the /admin bearer token (unset: 403)."),
    ] = DEFAULT_ADMIN_TOKEN_ENV,
    max_body_bytes: Annotated[
        int, typer.Option(min=1, help="Refuse bodies larger than this with 413.")
    ] = DEFAULT_MAX_BODY_BYTES,
    accept_v1: Annotated[
        bool,
        typer.Option(
            "--accept-v1",
            help="Also accept v1 signatures (body only) while senders are upgraded.",
        ),
    ] = False,
) -> None:
    """Serve POST /events and /events/CHANNEL, GET /stats and GET /applied until interrupted."""
    secret = None if insecure else secret_from_env(secret_env, "endpoint signing secret")
    if host not in ("127.0.0.1", "localhost", "::1") and insecure:
        raise InputError("--insecure is only allowed on loopback", hint="Drop --insecure.")
    admin_token = os.environ.get(admin_token_env) or None
    state = EndpointState(
        secret,
        fail_rate=fail_rate,
        down=down,
        admin_token=admin_token.encode() if admin_token else None,
        max_body_bytes=max_body_bytes,
        accept_v1=accept_v1,
    )
    err.print(literal(f"Reference endpoint on http://{host}:{port}/events (store {db})"))
    serve_endpoint(host, port, db, state)


@app.command()
def stats(
    url: Annotated[str, typer.Option(help="Endpoint base URL.")] = "http://127.0.0.1:8900",
    json_out: Json = False,
) -> None:
    """Show received / applied / duplicates counts of a running endpoint."""
    client = EndpointClient(url)
    doc = client.stats()
    client.close()
    if json_out:
        print_json(doc)
        return
    for key in (
        "received",
        "applied",
        "duplicates",
        "rejected_signature",
        "failed_injected",
        "refused_down",
    ):
        out.print(f"{key:<20} {literal(doc.get(key, 0))}")
