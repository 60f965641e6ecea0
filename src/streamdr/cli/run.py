"""`streamdr run`: workers for the deployed workflows (consumer group per workflow)."""

from __future__ import annotations

from typing import Annotated

import typer

from streamdr.cli.cdc import stop_on_signals
from streamdr.cli.options import Site
from streamdr.cli.render import err, literal
from streamdr.cli.state import state
from streamdr.pipeline.deployed import deployed_workflows, pick, signed_transform_loader
from streamdr.pipeline.health import HealthServer
from streamdr.pipeline.runner import Runner, plan_run
from streamdr.pipeline.subscriptions import add_replicated_topics, parse_subscriptions


def run(
    ctx: typer.Context,
    workflow: Annotated[
        list[str] | None, typer.Option("--workflow", "-w", help="Only this workflow (repeatable).")
    ] = None,
    port: Annotated[
        int, typer.Option(help="Port of /health, /ready and /metrics (0: any free port).")
    ] = 8080,
    host: Annotated[str, typer.Option(help="Address the probes bind to.")] = "127.0.0.1",
    site: Site = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10000, help="Records per batch.")] = 500,
    subscriptions: Annotated[
        str | None,
        typer.Option(
            help="JSON group → topics to read besides each workflow's own (failover passes it; "
            "default: the replicated copies the replication topology assigns to the site)."
        ),
    ] = None,
) -> None:
    """Run a worker per deployed workflow until SIGTERM/SIGINT; kill -9 loses nothing."""
    st = state(ctx)
    settings = st.settings()
    workflows = pick(deployed_workflows(settings, st.store()), workflow)
    explicit = parse_subscriptions(subscriptions) if subscriptions is not None else None
    plans = plan_run(settings, workflows, signed_transform_loader(settings))
    plans = add_replicated_topics(settings, st.store(), plans, site, explicit)
    stop = stop_on_signals()
    runner = Runner(settings, plans, stop, site=site, batch_size=batch_size)
    runner.prepare()
    server = HealthServer(runner.status, host=host, port=port).start()
    names = ", ".join(p.workflow.name for p in plans) or "none"
    err.print(literal(f"Workers for {names}; probes on http://{host}:{server.port}/ready"))
    for p in plans:
        if p.replicated:
            reads = f"{p.workflow.name} also reads {', '.join(p.replicated)}"
            err.print(f"  {literal(reads)} (replicated)")
    try:
        runner.run()
    finally:
        server.close()
