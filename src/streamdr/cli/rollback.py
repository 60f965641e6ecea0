"""`streamdr rollback WORKFLOW --to-version V`: pin an earlier transformation version and deploy."""

from __future__ import annotations

from typing import Annotated

import typer

from streamdr.cli.config import listing_errors
from streamdr.cli.render import out, print_json
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
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show only.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who acts.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Roll a workflow's transformation back: a new commit pinning V, then deploy (recorded).

    Not `restore` (topic records from a backup) nor `config rollback` (the whole configuration).
    """
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
        return
    d = result.detail
    if dry_run:
        out.print(
            f"Dry run: {workflow} {d['artifact']} {d['from_version']} -> {to_version} is valid."
        )
        return
    assert result.deployment is not None and result.commit is not None
    out.print(
        f"Rolled back {workflow}: {d['artifact']} {d['from_version']} -> {to_version}, "
        f"commit {result.commit[:12]}, deployment {result.deployment.id} at "
        f"{result.deployment.deployed_at:%Y-%m-%d %H:%M:%S}Z"
    )
