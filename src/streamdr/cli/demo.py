"""`streamdr demo …`: retail data flowing end to end on the lab (CDC → workers → endpoint)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from streamdr.cli.cdc import stop_on_signals
from streamdr.cli.options import Json
from streamdr.cli.render import err, literal, out, print_json
from streamdr.cli.state import state
from streamdr.demo.generator import Generator, RetailDb
from streamdr.demo.stack import DemoStack
from streamdr.pipeline.cdc.source import get_source_settings
from streamdr.settings.model import Settings

app = typer.Typer(help="The retail demo on the lab: data flowing end to end.", no_args_is_help=True)


def _stack(settings: Settings, endpoint_port: int = 8900, *, create: bool = False) -> DemoStack:
    base = Path(settings.lab_dir) if settings.lab_dir else settings.base_dir() / ".streamdr"
    return DemoStack(settings, base / "demo", endpoint_port, create=create)


@app.command()
def up(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(min=0.1, max=10000, help="Transactions per second.")] = 20,
    endpoint_port: Annotated[int, typer.Option(help="Port of the reference endpoint.")] = 8900,
    json_out: Json = False,
) -> None:
    """Start PostgreSQL, publish and deploy the samples, start endpoint, CDC, workers, load."""
    stack = _stack(state(ctx).settings(), endpoint_port, create=True)
    done = stack.up(rate)
    if json_out:
        print_json({"steps": done, "config": str(stack.config)})
        return
    for line in done:
        out.print(f"  {literal(line)}")
    out.print(f"Demo running. Settings: {literal(stack.config)}")
    out.print(f"  export STREAMDR_CONFIG={literal(stack.config)}")
    out.print("  streamdr demo status        # counts per client, worker readiness")
    out.print("  streamdr dlq list orders-to-client-a")


@app.command()
def status(ctx: typer.Context, json_out: Json = False) -> None:
    """Show the demo's processes, events applied per client and the workers' readiness."""
    doc = _stack(state(ctx).settings()).status()
    if json_out:
        print_json(doc)
        return
    running = ", ".join(f"{k}={'up' if v else 'down'}" for k, v in doc["processes"].items())
    out.print(f"processes: {literal(running)}; postgres={'up' if doc['postgres'] else 'down'}")
    for channel, counts in doc["endpoint"].get("channels", {}).items():
        out.print(
            f"  {literal(channel):<10} applied {counts['applied']:>7}  duplicates ignored "
            f"{counts['duplicates']:>5}  received {counts['received']:>7}"
        )
    out.print(f"workers ready: {literal(doc['workers'].get('ready'))}")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the demo's processes and PostgreSQL (data is kept for the next `demo up`)."""
    for line in _stack(state(ctx).settings()).down():
        out.print(f"  {literal(line)}")


@app.command()
def generate(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(min=0.1, max=10000, help="Transactions per second.")] = 20,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    source: Annotated[str, typer.Option(help="Source to write to.")] = "retail",
    json_out: Json = False,
) -> None:
    """Write retail changes (orders, lines, stock moves, price changes) at RATE per second."""
    settings = state(ctx).settings()
    src = get_source_settings(settings, source)
    db = (
        RetailDb.postgres(src.dsn or "")
        if src.kind == "postgres"
        else RetailDb.sqlite(settings.base_dir() / (src.path or ""))
    )
    db.create_schema()
    stop = stop_on_signals() if seconds is None else threading.Event()
    if not json_out:
        err.print(f"Generating {rate}/s retail transactions into {literal(source)} (Ctrl-C stops)")
    counts = Generator(db, rate).run(stop, seconds=seconds)
    db.close()
    if json_out:
        print_json({"source": source, "transactions": dict(counts)})
    else:
        out.print(f"Committed {sum(counts.values())} transactions: {literal(dict(counts))}")
