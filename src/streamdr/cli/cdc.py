"""`streamdr cdc …`: stream a source database's committed changes into Kafka."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from streamdr.cli.options import DryRun, Execute, Json, Yes, print_plan_only, wants_execute
from streamdr.cli.render import err, literal, out, print_json, print_warning
from streamdr.cli.state import state
from streamdr.pipeline.cdc.service import build_reader, cdc_status, reset_checkpoint, run_cdc
from streamdr.pipeline.cdc.source import get_source_settings

app = typer.Typer(
    help="Change data capture from PostgreSQL (or the SQLite demo source).", no_args_is_help=True
)


def stop_on_signals() -> threading.Event:
    """Return an event set by SIGTERM or SIGINT (a clean stop)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@app.command()
def run(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Source name under `sources:`.")],
    port: Annotated[
        int | None, typer.Option(help="Serve /health, /ready, /metrics on this port (0: any).")
    ] = None,
    site: Annotated[
        str | None,
        typer.Option(help="Kafka site to write to (default: the source's site, else the active)."),
    ] = None,
) -> None:
    """Stream SOURCE into Kafka until interrupted (resumes from the Kafka checkpoint)."""
    stop = stop_on_signals()
    reader = build_reader(state(ctx).settings(), source, stop, site)
    where = f"{source} → site {reader.site_name}, topics {reader.settings.topic_prefix}.*"
    err.print(f"CDC {literal(where)}")
    run_cdc(reader, stop, port)


@app.command()
def status(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Source name under `sources:`.")],
    json_out: Json = False,
    site: Annotated[
        str | None, typer.Option(help="Kafka site holding the checkpoint (as for `cdc run`).")
    ] = None,
) -> None:
    """Show checkpoint, pending changes and lag; exit 1 when it alerts (lag > 10 min, down)."""
    doc = cdc_status(state(ctx).settings(), source, site)
    if json_out:
        print_json(doc)
    else:
        cp = doc["checkpoint"]
        out.print(literal(f"source {source} ({doc['kind']}) → site {doc['site']}"))
        position = f"{cp['position_text']} (commit {cp['commit_time']})" if cp else "none"
        out.print(f"  checkpoint   {literal(position)}")
        out.print(f"  reachable    {doc['source_reachable']}  pending: {doc['pending']}")
        out.print(
            f"  lag          {doc['lag_seconds']}s" + ("  [red]ALERT[/]" if doc["alert"] else "")
        )
    raise typer.Exit(1 if doc["alert"] else 0)


@app.command()
def reset(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Source name under `sources:`.")],
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """Delete SOURCE's checkpoint (after its slot was lost); capture restarts from now.

    Prints what would be deleted; deletes only with --execute. Changes committed since the
    checkpoint may be skipped (see docs/pipeline.md and the runbooks).
    """
    act = wants_execute(execute, dry_run, yes)
    settings = state(ctx).settings()
    get_source_settings(settings, source)  # an unknown source is refused before any plan
    name = literal(source)
    if not act:
        out.print(f"Would delete the checkpoint of {name}; capture would restart from now.")
        print_warning(f"resetting {source!r} can skip changes committed since its checkpoint")
        print_plan_only()
        return
    reset_checkpoint(settings, source)
    out.print(f"Checkpoint of {name} deleted; `streamdr cdc run {name}` starts a new slot.")
