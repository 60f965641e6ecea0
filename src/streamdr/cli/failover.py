"""`streamdr failover` and `streamdr failback`: the site-switch runbook as code.

Without ``--execute`` only the plan is printed (the convention of every destructive command,
see ``cli/options.py``); ``--json`` prints one document. Runs are recorded step by step and can be
resumed (``--resume-id N``, alias ``--resume``) or abandoned after a manual revert
(``--abandon-id N``, alias ``--abandon``); ``--history`` lists the runs and their ids.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from streamdr.cli.options import DryRun, Execute, Json, Yes, finish_plan, wants_execute
from streamdr.cli.render import err, literal, out, print_json, status_mark
from streamdr.cli.state import CliState, state
from streamdr.errors import InputError
from streamdr.lab.switch_hook import lab_switch_hook
from streamdr.replication.failover import runs
from streamdr.replication.failover.active_site import PLATFORM_SCOPE
from streamdr.replication.failover.context import SwitchContext
from streamdr.replication.failover.execute import abandon, execute, prepare, resume
from streamdr.replication.failover.plan import SwitchKind, SwitchPlan, SwitchRequest
from streamdr.replication.failover.runs import StepRecord
from streamdr.replication.failover.workload import workload_from_settings
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.service import deployed_sets

Resume = Annotated[
    int | None,
    typer.Option(
        "--resume-id", "--resume", help="Resume the failed run with this id (`failover --history`)."
    ),
]
Abandon = Annotated[
    int | None,
    typer.Option(
        "--abandon-id",
        "--abandon",
        help="Mark a failed run abandoned (after reverting it by hand).",
    ),
]
History = Annotated[bool, typer.Option("--history", help="List recent runs.")]
AllowMissing = Annotated[
    bool,
    typer.Option(
        "--allow-missing-checkpoints",
        help="Groups without checkpoints start from the earliest replicated offset.",
    ),
]


def _progress(step: StepRecord) -> None:
    mark = "[green]ok[/]" if step.status == runs.DONE else "[red]failed[/]"
    took = step.as_dict()["seconds"]
    err.print(f"  {mark} {literal(step.name)} ({took}s): {literal(step.detail)}")


def context_for(st: CliState, json_out: bool) -> SwitchContext:
    """Return the switch context of the platform (the CLI's runner, workload and hooks)."""
    settings = st.settings()
    return SwitchContext(
        settings,
        st.store(),
        Mm2Runner(settings),
        workload_from_settings(settings),
        switch_hook=lab_switch_hook(settings),
        on_step=None if json_out else _progress,
    )


def _print_plan(plan: SwitchPlan) -> None:
    kind = "planned " if plan.request.planned else ""
    sites = literal(f"{plan.source} → {plan.target}")
    out.print(f"[bold]{kind}{plan.request.kind}[/] {sites}")
    for i, step in enumerate(plan.steps, start=1):
        out.print(f"  {i}. [bold]{literal(step.name)}[/]: {literal(step.action)}")
    for warning in plan.warnings:
        out.print(f"  [yellow]warning:[/] {literal(warning)}")


def print_result(doc: dict[str, Any]) -> None:
    """Print a switch result: kind, sites, verdict, run id, RTO/RPO and validation failures."""
    out.print(
        f"{literal(doc['kind'])} {literal(doc['from'])} → {literal(doc['to'])}: "
        f"{status_mark(doc['passed'])} "
        f"(run {doc['run_id']})"
    )
    out.print(
        f"  RTO {doc['rto_seconds']}s; RPO estimate {doc['rpo_seconds_estimate']}s, "
        f"{doc['messages_not_replicated_estimate']} messages not replicated"
    )
    for failure in doc.get("validation", {}).get("failures", []):
        out.print(f"  [red]validation:[/] {literal(failure)}")


def _history(st: CliState, json_out: bool) -> None:
    rows = runs.list_runs(st.store(), None)
    if json_out:
        print_json(rows)
        return
    table = Table("id", "kind", "from", "to", "planned", "status", "started", "RTO s")
    for r in rows:
        keys = ("id", "kind", "from", "to", "planned", "status", "started_at", "rto_seconds")
        table.add_row(*(literal(r[k]) for k in keys))
    out.print(table)


def _switch(
    ctx: typer.Context,
    request: SwitchRequest | None,
    *,
    act: bool,
    json_out: bool,
    resume_id: int | None,
    abandon_id: int | None,
) -> None:
    st = state(ctx)
    sctx = context_for(st, json_out)
    if abandon_id is not None:
        doc = abandon(sctx, abandon_id)
        print_json(doc) if json_out else out.print(f"Run {abandon_id} marked abandoned")
        return
    if resume_id is not None:
        doc = resume(sctx, resume_id)
    else:
        if request is None:
            raise InputError("--to SITE is required", hint="e.g. `streamdr failover --to dr`.")
        plan = prepare(sctx, request, deployed_sets(sctx.settings, sctx.store))
        if not json_out:
            _print_plan(plan)
        if not act:
            finish_plan(json_out, {"dry_run": True, "plan": plan.as_dict()})
            return
        doc = execute(sctx, plan)
    print_json(doc) if json_out else print_result(doc)
    raise typer.Exit(0 if doc["passed"] else 1)


def failover(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", help="Site to make active.")] = None,
    planned: Annotated[
        bool, typer.Option("--planned", help="Fence the active site and wait for lag 0 first.")
    ] = False,
    allow_missing: AllowMissing = False,
    execute_plan: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    resume_id: Resume = None,
    abandon_id: Abandon = None,
    history: History = False,
    json_out: Json = False,
) -> None:
    """Make another site active: translated offsets, switch hook, workers restarted.

    Prints the plan; acts only with --execute.
    A failed run is resumed with --resume-id N; --history lists the runs and their ids.

    Exit codes: 0 switched and validated; 1 a step or the validation failed;
    2 bad input or a state it cannot act on; 3 a site or the metadata DB unreachable.
    """
    if ctx.invoked_subcommand is not None:
        return  # `failover watch`
    if history:
        _history(state(ctx), json_out)
        return
    request = (
        SwitchRequest(SwitchKind.FAILOVER, to, planned, PLATFORM_SCOPE, allow_missing)
        if to
        else None
    )
    _switch(
        ctx,
        request,
        act=wants_execute(execute_plan, dry_run, yes),
        json_out=json_out,
        resume_id=resume_id,
        abandon_id=abandon_id,
    )


def failback(
    ctx: typer.Context,
    to: Annotated[
        str | None, typer.Option("--to", help="The home site (default: replication.home_site).")
    ] = None,
    allow_missing: AllowMissing = False,
    execute_plan: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    resume_id: Resume = None,
    abandon_id: Abandon = None,
    json_out: Json = False,
) -> None:
    """Return to the home site: reverse replication, catch up, fence, switch (planned).

    Prints the plan; acts only with --execute.
    A failed failback is resumed with --resume-id N (ids: `streamdr failover --history`).

    Exit codes: 0 switched and validated; 1 a step or the validation failed;
    2 bad input or a state it cannot act on; 3 a site or the metadata DB unreachable.
    """
    act = wants_execute(execute_plan, dry_run, yes)  # refused before the settings are read
    settings = state(ctx).settings()
    home = to or settings.replication.home_site or next(iter(settings.sites))
    request = SwitchRequest(SwitchKind.FAILBACK, home, True, PLATFORM_SCOPE, allow_missing)
    _switch(
        ctx,
        request,
        act=act,
        json_out=json_out,
        resume_id=resume_id,
        abandon_id=abandon_id,
    )
