"""`streamdr jobs …`: the scheduled jobs of `streamdr serve`, their history, run, pause."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.options import Json
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.errors import FailedCheckError, InputError
from streamdr.serve.history import last_runs, paused_jobs, recent_runs, set_paused
from streamdr.serve.runner import SUCCEEDED, run_job
from streamdr.serve.scheduler import trigger_of
from streamdr.serve.service import make_context
from streamdr.settings.model import Settings
from streamdr.workflows.context import default_actor

app = typer.Typer(
    help="Scheduled jobs of `streamdr serve`: list, history, run now, pause, resume.",
    no_args_is_help=True,
)
Name = Annotated[str, typer.Argument(help="Job name (a key of schedule.jobs).")]


def _declared(settings: Settings, name: str) -> str:
    if name not in settings.schedule.jobs:
        known = ", ".join(settings.schedule.jobs) or "none"
        raise InputError(f"unknown job {name!r}", hint=f"Jobs in schedule.jobs: {known}.")
    return name


@app.command("list")
def list_jobs(ctx: typer.Context, json_out: Json = False) -> None:
    """List the declared jobs with their trigger, pause state and last outcome."""
    st = state(ctx)
    jobs = st.settings().schedule.jobs
    paused, last = paused_jobs(st.store()), last_runs(st.store())
    rows = [
        {
            "job": name,
            "kind": spec.kind,
            "trigger": str(trigger_of(spec)),
            "paused": name in paused,
            **last.get(name, {"last_status": None, "last_success": None}),
        }
        for name, spec in jobs.items()
    ]
    if json_out:
        print_json(rows)
        return
    table = Table("job", "kind", "trigger", "paused", "last", "last success")
    for r in rows:
        table.add_row(
            literal(r["job"]),
            r["kind"],
            literal(r["trigger"]),
            "yes" if r["paused"] else "",
            r.get("last_status") or "-",
            r.get("last_success") or "-",
        )
    out.print(table if rows else "No jobs under schedule.jobs in streamdr.yaml.")


@app.command()
def history(
    ctx: typer.Context,
    job: Annotated[str | None, typer.Argument(help="Only this job.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest runs to show.")] = 20,
    json_out: Json = False,
) -> None:
    """Show the newest job runs: start, end, outcome, duration, error."""
    rows = recent_runs(state(ctx).store(), job, limit)
    if json_out:
        print_json(rows)
        return
    table = Table("id", "job", "trigger", "started", "status", "seconds", "owner", "error")
    for r in rows:
        table.add_row(
            str(r["id"]),
            literal(r["job"]),
            r["trigger"],
            r["started_at"] or "-",
            r["status"],
            str(r["duration_seconds"] if r["duration_seconds"] is not None else "-"),
            literal(r["owner"]),
            literal(r["error"] or ""),
        )
    out.print(table if rows else "No job runs recorded.")


@app.command("run")
def run_now(ctx: typer.Context, name: Name, json_out: Json = False) -> None:
    """Run a job now in this process (its lease still applies); exit 1 when it fails."""
    st = state(ctx)
    _declared(st.settings(), name)
    outcome = run_job(make_context(st.settings(), st.store(), None), name, "manual")
    if json_out:
        print_json(outcome.__dict__)
    else:
        out.print(f"{literal(name)}: {outcome.outcome} (run {outcome.run_id})")
    if outcome.outcome != SUCCEEDED:
        raise FailedCheckError(
            f"job {name} {outcome.outcome}: {outcome.error}",
            hint=f"See `streamdr jobs history {name}`.",
        )


@app.command()
def pause(ctx: typer.Context, name: Name) -> None:
    """Pause a job: serve skips its scheduled runs until `jobs resume`."""
    st = state(ctx)
    set_paused(st.store(), _declared(st.settings(), name), True, default_actor())
    out.print(f"{literal(name)}: paused")


@app.command()
def resume(ctx: typer.Context, name: Name) -> None:
    """Resume a paused job."""
    st = state(ctx)
    set_paused(st.store(), _declared(st.settings(), name), False, default_actor())
    out.print(f"{literal(name)}: resumed")
