"""`streamdr replicate …`: run MirrorMaker 2 between the sites, show lag, render configs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.options import Json, comma_list
from streamdr.cli.render import err, literal, out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError
from streamdr.policy.tiers import Tier
from streamdr.replication import service
from streamdr.replication.failover.active_site import PLATFORM_SCOPE
from streamdr.replication.mm2.config import DEFAULT_INSTANCE
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.mm2.strimzi import DEFAULT_STRIMZI_API, check_strimzi_api

app = typer.Typer(
    help="MirrorMaker 2 between sites: tiered flows, supervision, lag.", no_args_is_help=True
)
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
    sets = service.choose_sets(settings, store, comma_list(topics), comma_list(groups), tier)
    topology = service.build_topology(settings, store, sets, PLATFORM_SCOPE)
    if not json_out:
        err.print(f"Starting MirrorMaker 2: {literal(', '.join(f.name for f in topology.flows))}…")
    doc = service.start(settings, Mm2Runner(settings, instance), topology, wait=wait)
    if json_out:
        print_json(doc)
        return
    verb = "reconfigured" if doc["changed"] else "already running"
    out.print(f"MirrorMaker 2 {verb}; ready after {doc['ready_seconds']}s")
    for proc in doc["processes"]:
        out.print(literal(f"  {proc['name']:<14} pid {proc['pid']}  log {proc['log']}"))


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
        f"MirrorMaker 2 ({literal(doc['instance'])}): supervisor "
        + ("[green]running[/]" if sup["running"] else "[red]not running[/]")
        + f", {doc['restarts']} restarts, status [bold]{literal(doc.get('status'))}[/]"
    )
    for proc in doc["processes"]:
        mark = "[green]up[/]" if proc["running"] else "[red]down[/]"
        out.print(f"  {literal(proc['name']):<14} {mark} restarts {proc['restarts']}")
    table = Table("flow", "topic", "part", "source end", "behind", "seconds", "status")
    for p in doc.get("partitions", []):
        keys = ("flow", "topic", "partition", "source_end", "messages_behind", "seconds_behind")
        table.add_row(*(literal(p[k]) for k in (*keys, "status")))
    if doc.get("partitions"):
        out.print(table)
    for f in doc.get("flows", []):
        out.print(
            f"  {literal(f['flow'])}: heartbeat age {f['heartbeat_age_seconds']}s"
            + (f" [red]{literal(f['error'])}[/]" if f.get("error") else "")
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
    strimzi_api: Annotated[
        str,
        typer.Option(
            help="With --format strimzi: v1 (Strimzi 1.0 and later) or v1beta2 (before 1.0)."
        ),
    ] = DEFAULT_STRIMZI_API,
    topics: Topics = None,
    groups: Groups = None,
    tier: TierOpt = Tier.STANDARD,
    instance: Instance = DEFAULT_INSTANCE,
) -> None:
    """Print mm2.properties or Strimzi KafkaMirrorMaker2 resources for the current tiers."""
    if fmt not in ("properties", "strimzi"):
        raise InputError(f"--format {fmt!r} is unknown", hint="Use properties or strimzi.")
    check_strimzi_api(strimzi_api)
    st = state(ctx)
    settings, store = st.settings(), st.store()
    sets = service.choose_sets(settings, store, comma_list(topics), comma_list(groups), tier)
    topology = service.build_topology(settings, store, sets, PLATFORM_SCOPE)
    typer.echo(service.render(settings, topology, fmt, instance, strimzi_api), nl=False)
