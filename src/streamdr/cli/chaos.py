"""`streamdr chaos run`: seeded random faults against the real pipeline, with a ledger."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from streamdr.chaos.catalog import CATALOG, parse_kinds
from streamdr.chaos.run import SCENARIO, ChaosRequest, chaos_targets, run_chaos
from streamdr.cli.render import err, literal, out, print_json, status_mark
from streamdr.cli.state import state
from streamdr.clock import utcnow
from streamdr.drills.context import DrillContext
from streamdr.drills.history import save_report
from streamdr.drills.report import DrillReport
from streamdr.errors import InputError, StreamdrError
from streamdr.lab.wan import parse_duration_ms
from streamdr.steps import Step

app = typer.Typer(
    help="Chaos runs: random faults while the pipeline runs under load.", no_args_is_help=True
)
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MAX_DURATION_S = 24 * 3600


def _progress(step: Step) -> None:
    mark = "[green]ok[/]" if step.ok else "[red]failed[/]"
    detail = f": {literal(step.detail)}" if step.detail else ""
    err.print(f"  {mark} {literal(step.name)}{detail}")


def _seconds(text: str) -> float:
    try:
        seconds = parse_duration_ms(text) / 1000 if text[-1:].isalpha() else float(text)
    except ValueError as exc:
        raise InputError(f"--duration {text!r}: {exc}", hint="Use e.g. 90s, 2m or 120.") from exc
    if not 10 <= seconds <= MAX_DURATION_S:
        raise InputError(f"--duration {text!r} is out of range", hint="Between 10s and 24h.")
    return seconds


@app.command("list")
def list_faults(json_out: Json = False) -> None:
    """List the fault catalog."""
    rows = [
        {"name": k.name, "hold_s": list(k.hold), "description": k.description}
        for k in CATALOG.values()
    ]
    if json_out:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row['name']:<18} {row['description']}")


@app.command()
def run(
    ctx: typer.Context,
    duration: Annotated[str, typer.Option(help="How long to inject faults: 120s, 30m…")] = "120s",
    seed: Annotated[
        int, typer.Option(help="Seed of the fault schedule (same seed, same run).")
    ] = 1,
    faults: Annotated[
        str | None, typer.Option(help="Comma-separated fault kinds (default: all; `chaos list`).")
    ] = None,
    rate: Annotated[float, typer.Option(min=1, max=500, help="Load in events/s.")] = 20.0,
    mm2: Annotated[
        bool | None,
        typer.Option(
            "--mm2/--no-mm2",
            help="Replicate the chaos topic with MirrorMaker 2 (default: when the lab has a "
            "second site) and check the copy at the end.",
        ),
    ] = None,
    json_out: Json = False,
) -> None:
    """Run seeded faults against the pipeline; exit 0 when the ledger balances and all recover."""
    st = state(ctx)
    kinds = parse_kinds(faults)
    if mm2 is False and faults and any(CATALOG[k].needs_mm2 for k in kinds):
        raise InputError(
            "--no-mm2 with a fault that needs MirrorMaker 2 (kill-mm2)",
            hint="Drop --no-mm2 or the fault.",
        )
    request = ChaosRequest(seed, _seconds(duration), kinds, rate, mm2)
    settings = st.settings()
    site, _ = settings.site(None)
    store = st.store()
    report = DrillReport(SCENARIO, site, chaos_targets(), on_step=_progress)
    dctx = DrillContext(settings, site, store, on_step=_progress)
    if not json_out:
        err.print(f"Chaos run on {site}: seed {seed}, {request.duration:g}s, {rate:g} events/s…")
    try:
        run_chaos(dctx, report, request)
    except InputError:
        raise
    except StreamdrError as exc:
        report.failures.append(f"aborted: {exc.message}")
        report.passed = False
        report.finished_at = utcnow()
        save_report(store, report)
        raise
    report.finished_at = utcnow()
    run_id = save_report(store, report)
    if json_out:
        print_json({"id": run_id, **report.as_dict()})
    else:
        _render(run_id, report)
    raise typer.Exit(0 if report.passed else 1)


def _render(run_id: int, report: DrillReport) -> None:
    out.print(f"Chaos run {run_id}: {status_mark(report.passed)} (seed {report.figures['seed']})")
    for f in report.figures.get("faults", []):
        rec = f"{f['recovery_s']:.1f}s" if f["recovery_s"] is not None else "not recovered"
        out.print(
            f"  fault {f['index']} {f['kind']:<17} recovered in {rec}, "
            f"problem events {f['problem_events']}"
        )
    book: dict[str, Any] = report.figures.get("ledger", {})
    out.print(
        f"  committed {book.get('events_committed')}, applied {book.get('events_applied')}, "
        f"dead-lettered {book.get('events_dead_lettered')}, lost {book.get('events_lost')}, "
        f"applied twice {book.get('events_applied_twice')}"
    )
    for item in book.get("lost", [])[:10] + book.get("applied_twice", [])[:10]:
        out.print(
            f"  [red]event {item['event']}[/] in fault windows {item['fault_windows'] or 'none'}"
        )
    for failure in report.failures:
        out.print(f"  [red]failed:[/] {literal(failure)}")
