"""`streamdr drill …`: run scenarios that measure RTO/RPO, and their history."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from streamdr.cli.options import Json, Site
from streamdr.cli.render import err, literal, out, print_json, status_mark
from streamdr.cli.state import state
from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import DELIVERY_MODES, PER_EVENT
from streamdr.drills.history import list_reports
from streamdr.drills.registry import DRILLS, check_drill_delivery, delivery_modes, run_drill
from streamdr.drills.report import DrillReport
from streamdr.steps import Step

app = typer.Typer(
    help="DR drills: inject a fault, measure RTO and RPO, keep the history.", no_args_is_help=True
)


@app.command("list")
def list_drills(json_out: Json = False) -> None:
    """List the drills and their targets."""
    rows = [
        {
            "name": d.name,
            "description": d.description,
            "targets": d.targets.as_dict(),
            "delivery_modes": list(delivery_modes(d)),
        }
        for d in DRILLS.values()
    ]
    if json_out:
        print_json(rows)
        return
    table = Table("drill", "RTO target", "RPO target", "description")
    for d in DRILLS.values():
        table.add_row(
            d.name,
            f"{d.targets.rto.total_seconds():.0f}s",
            f"{d.targets.rpo.total_seconds():.0f}s",
            d.description,
        )
    out.print(table)


def _progress(step: Step) -> None:
    mark = "[green]ok[/]" if step.ok else "[red]failed[/]"
    took = (step.finished_at - step.started_at).total_seconds() if step.finished_at else 0.0
    detail = f": {step.detail}" if step.detail else ""
    err.print(f"  {mark} {literal(step.name)} ({took:.1f}s){literal(detail)}")


def _render(run_id: int, report: DrillReport) -> None:
    doc = report.as_dict()
    mode = f" ({literal(report.delivery_mode)} delivery)" if report.delivery_mode else ""
    out.print(
        f"Drill {literal(report.scenario)} on {literal(report.site)}{mode}: "
        f"{status_mark(report.passed)} (run {run_id})"
    )
    rto = f"{report.rto_seconds:.2f}s" if report.rto_seconds is not None else "not recovered"
    out.print(f"  RTO {rto} (target < {report.targets.rto.total_seconds():.0f}s)")
    if report.rpo_seconds is not None:
        rpo_target = report.targets.rpo.total_seconds()
        target = "= 0" if rpo_target == 0 else f"< {rpo_target:.0f}s"
        out.print(f"  RPO {report.rpo_seconds:.2f}s (target {target})")
    # The scenario's own counts (lost, duplicates, redeliveries, …); nested detail is in --json.
    for key, value in report.figures.items():
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            out.print(f"  {literal(key)}: {literal(doc.get(key, value))}")
    for failure in report.failures:
        out.print(f"  [red]failed:[/] {literal(failure)}")


@app.command()
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Drill name (see `drill list`).")],
    site: Site = None,
    delivery: Annotated[
        str,
        typer.Option(
            help=f"How the drill's workflow delivers: {' or '.join(DELIVERY_MODES)} "
            "(pipeline and site-failover drills).",
        ),
    ] = PER_EVENT,
    json_out: Json = False,
) -> None:
    """Run one drill; exit 0 when it passed, 1 when it failed."""
    st = state(ctx)
    check_drill_delivery(name, delivery)  # before the settings: a refused mode changes nothing
    settings = st.settings()
    site_name, _ = settings.site(site)
    dctx = DrillContext(settings, site_name, st.store(), on_step=_progress, delivery=delivery)
    if not json_out:
        mode = f" ({literal(delivery)} delivery)" if delivery != PER_EVENT else ""
        err.print(f"Running drill {literal(name)} on site {literal(site_name)}{mode}…")
    run_id, report = run_drill(name, dctx)
    if json_out:
        print_json({"id": run_id, **report.as_dict()})
    else:
        _render(run_id, report)
    raise typer.Exit(0 if report.passed else 1)


@app.command()
def history(
    ctx: typer.Context,
    scenario: Annotated[str | None, typer.Option(help="Only this drill.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = 20,
    json_out: Json = False,
) -> None:
    """Show stored drill runs, newest first."""
    rows = list_reports(state(ctx).store(), scenario, limit)
    if json_out:
        print_json(rows)
        return
    out.print(history_table(rows))


def history_table(rows: list[dict[str, Any]]) -> Table:
    """Return the table of stored runs; a drill without a workflow has no delivery mode ("-")."""
    table = Table("id", "drill", "site", "delivery", "started", "result", "RTO s", "RPO s")
    for r in rows:
        first = (r.get("id"), r.get("scenario"), r.get("site"), r.get("delivery_mode") or "-")
        last = (r.get("rto_seconds"), r.get("rpo_seconds"))
        table.add_row(
            *(literal(c) for c in first),
            literal(r.get("started_at")),
            status_mark(bool(r.get("passed"))),
            *(literal(c) for c in last),
        )
    return table
