"""`streamdr rollback WORKFLOW --to-version V`: pin an earlier transformation version and deploy."""

from __future__ import annotations

from typing import Annotated

import typer

from streamdr.cli.config import listing_errors
from streamdr.cli.options import By, DryRun, Execute, Json, Yes, print_plan_only, wants_execute
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.workflows.context import ConfigContext, default_actor
from streamdr.workflows.rollback import rollback_transformation


def rollback(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="Workflow name.")],
    to_version: Annotated[str, typer.Option("--to-version", help="Transformation version to pin.")],
    include_undeployed: Annotated[
        bool,
        typer.Option("--include-undeployed", help="Allow undeployed branch changes to ride along."),
    ] = False,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    by: By = None,
    json_out: Json = False,
) -> None:
    """Roll a workflow's transformation back: a new commit pinning V, then deploy (recorded).

    Validates and prints the change; commits and deploys only with --execute.
    Not `restore` (topic records from a backup) nor `config rollback` (the whole configuration).
    """
    dry_run = not wants_execute(execute, dry_run, yes)
    st = state(ctx)
    cfg = ConfigContext.open(st.settings(), st.store())
    result = listing_errors(
        lambda: rollback_transformation(
            cfg,
            workflow,
            to_version,
            by or default_actor(),
            include_undeployed=include_undeployed,
            dry_run=dry_run,
        )
    )
    if json_out:
        print_json(result.as_dict())
        if dry_run:
            print_plan_only(json_out)
        return
    d = result.detail
    change = f"{workflow} {d['artifact']} {d['from_version']} -> {to_version}"
    if dry_run:
        out.print(f"Would roll back {literal(change)} (valid).")
        print_plan_only()
        return
    assert result.deployment is not None and result.commit is not None
    out.print(
        f"Rolled back {literal(change)}, "
        f"commit {result.commit[:12]}, deployment {result.deployment.id} at "
        f"{result.deployment.deployed_at:%Y-%m-%d %H:%M:%S}Z"
    )
