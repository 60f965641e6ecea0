"""`streamdr replicate …`: run MirrorMaker 2 between the sites, show lag, render configs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.render import err, out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError
from streamdr.policy.tiers import Tier
from streamdr.replication import service
from streamdr.replication.failover.active_site import PLATFORM_SCOPE
from streamdr.replication.mm2.config import DEFAULT_INSTANCE
from streamdr.replication.mm2.runner import Mm2Runner

app = typer.Typer(
    help="MirrorMaker 2 between sites: tiered flows, supervision, lag.", no_args_is_help=True
)
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Instance = Annotated[
    str, typer.Option(help="MM2 instance name (drills run their own).", hidden=True)
]
Topics = Annotated[
    list[str] | None,
    typer.Option("--topics", help="Replicate these topics instead of the deployed workflows'."),
]
Groups = Annotated[
    list[str] | None,
    typer.Option("--groups", help="Consumer groups to checkpoint (with --topics)."),
]
TierOpt = Annotated[
    Tier, typer.Option(help="Tier of --topics (standard: one way, critical: both).")
]


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@app.command()
def start(
    ctx: typer.Context,
    topics: Topics = None,
    groups: Groups = None,
    tier: TierOpt = Tier.STANDARD,
    wait: Annotated[bool, typer.Option(help="Wait until every flow replicates.")] = True,
    instance: Instance = DEFAULT_INSTANCE,
    json_out: Json = False,
) -> None:
    """Start (or reconfigure) MirrorMaker 2 for the deployed workflows' tiers."""
    st = state(ctx)
    settings, store = st.settings(), st.store()
    sets = service.choose_sets(settings, store, _split(topics), _split(groups), tier)
    topology = service.build_topology(settings, store, sets, PLATFORM_SCOPE)
    if not json_out:
        err.print(f"Starting MirrorMaker 2: {', '.join(f.name for f in topology.flows)}…")
    doc = service.start(settings, Mm2Runner(settings, instance), topology, wait=wait)
    if json_out:
        print_json(doc)
        return
    verb = "reconfigured" if doc["changed"] else "already running"
    out.print(f"MirrorMaker 2 {verb}; ready after {doc['ready_seconds']}s")
    for proc in doc["processes"]:
        out.print(f"  {proc['name']:<14} pid {proc['pid']}  log {proc['log']}")


@app.command()
def status(
    ctx: typer.Context, instance: Instance = DEFAULT_INSTANCE, json_out: Json = False
) -> None:
    """Show MM2 processes, restarts and lag per partition, workflow and tier."""
    settings = state(ctx).settings()
    doc, code = service.status(settings, Mm2Runner(settings, instance))
    if json_out:
        print_json(doc)
        raise typer.Exit(code)
    sup = doc["supervisor"]
    out.print(
        f"MirrorMaker 2 ({doc['instance']}): supervisor "
        + ("[green]running[/]" if sup["running"] else "[red]not running[/]")
        + f", {doc['restarts']} restarts, status [bold]{doc.get('status')}[/]"
    )
    for proc in doc["processes"]:
        mark = "[green]up[/]" if proc["running"] else "[red]down[/]"
        out.print(f"  {proc['name']:<14} {mark} restarts {proc['restarts']}")
    table = Table("flow", "topic", "part", "source end", "behind", "seconds", "status")
    for p in doc.get("partitions", []):
        table.add_row(
            p["flow"],
            p["topic"],
            str(p["partition"]),
            str(p["source_end"]),
            str(p["messages_behind"]),
            str(p["seconds_behind"]),
            p["status"],
        )
    if doc.get("partitions"):
        out.print(table)
    for f in doc.get("flows", []):
        out.print(
            f"  {f['flow']}: heartbeat age {f['heartbeat_age_seconds']}s"
            + (f" [red]{f['error']}[/]" if f.get("error") else "")
        )
    raise typer.Exit(code)


@app.command()
def stop(
    ctx: typer.Context,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget", help="Also remove its config and logs (`check` no longer expects it)."
        ),
    ] = False,
    instance: Instance = DEFAULT_INSTANCE,
    json_out: Json = False,
) -> None:
    """Stop MirrorMaker 2 and its supervisor."""
    settings = state(ctx).settings()
    runner = Mm2Runner(settings, instance)
    stopped = runner.stop()
    if forget:
        runner.forget()
    if json_out:
        print_json({"stopped": stopped, "forgotten": forget, "instance": instance})
    else:
        out.print("MirrorMaker 2 stopped" if stopped else "MirrorMaker 2 was not running")


@app.command("render")
def render_cmd(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="properties or strimzi")] = "properties",
    topics: Topics = None,
    groups: Groups = None,
    tier: TierOpt = Tier.STANDARD,
    instance: Instance = DEFAULT_INSTANCE,
) -> None:
    """Print mm2.properties or Strimzi KafkaMirrorMaker2 resources for the current tiers."""
    if fmt not in ("properties", "strimzi"):
        raise InputError(f"--format {fmt!r} is unknown", hint="Use properties or strimzi.")
    st = state(ctx)
    settings, store = st.settings(), st.store()
    sets = service.choose_sets(settings, store, _split(topics), _split(groups), tier)
    topology = service.build_topology(settings, store, sets, PLATFORM_SCOPE)
    typer.echo(service.render(settings, topology, fmt, instance), nl=False)
