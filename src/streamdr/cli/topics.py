"""`streamdr topics …`: keep declared topics present and compliant with the HA policy."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.options import DryRun, Execute, Json, Yes, print_plan_only, wants_execute
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.policy.topics_service import apply_topic_plan, plan_topic_changes

app = typer.Typer(help="Declared topics and the HA topic policy.", no_args_is_help=True)


@app.command()
def ensure(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option(help="One site (default: every site).")] = None,
    all_topics: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also fix min ISR / unclean election on every existing non-internal topic.",
        ),
    ] = False,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_out: Json = False,
) -> None:
    """Create or correct declared topics per the policy (RF 3, min ISR 2, no unclean election).

    Prints the plan; creates and alters topics only with --execute. Exit 1 when a change needs
    an operator (the plan's `manual` actions).
    """
    dry_run = not wants_execute(execute, dry_run, yes)
    settings = state(ctx).settings()
    plan = plan_topic_changes(settings, site=site, include_all=all_topics)
    done = [] if dry_run else apply_topic_plan(settings, plan)
    manual = [a for a in plan if a.kind == "manual"]
    if json_out:
        print_json(
            {
                "dry_run": dry_run,
                "plan": [a.as_dict() for a in plan],
                "applied": [a.as_dict() for a in done],
                "manual": [a.as_dict() for a in manual],
            }
        )
        if plan and dry_run:
            print_plan_only(json_out)
    else:
        table = Table("site", "topic", "action", "details", "reason")
        for a in plan:
            details = ", ".join(f"{k}={v}" for k, v in a.config.items()) or (
                f"partitions={a.partitions}" if a.partitions else ""
            )
            cells = (a.site, a.topic, a.kind, details, a.reason)
            table.add_row(*(literal(c) for c in cells))
        out.print(table if plan else "Every declared topic matches the policy.")
        if plan and not dry_run:
            out.print(f"Applied {len(done)} changes; {len(manual)} need an operator.")
        elif plan:
            print_plan_only()
    raise typer.Exit(1 if manual else 0)
