"""`streamdr dlq …`: list a workflow's dead letters and replay them with the same keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.render import out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError
from streamdr.pipeline.deployed import deployed_workflows, pick, signed_transform_loader
from streamdr.pipeline.replay import list_dlq, replay, replayed_ok
from streamdr.pipeline.signing import secret_from_env

app = typer.Typer(help="Dead-letter queues: inspect and replay.", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
WorkflowArg = Annotated[str, typer.Argument(help="Deployed workflow name.")]


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(
            f"--since {value!r} is not an ISO 8601 time", hint="e.g. 2026-11-29T08:00:00Z"
        ) from exc
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@app.command("list")
def list_entries(ctx: typer.Context, workflow: WorkflowArg, json_out: Json = False) -> None:
    """List WORKFLOW's dead letters: event id, stage, reason, attempts, origin, replayed."""
    st = state(ctx)
    settings = st.settings()
    wf = pick(deployed_workflows(settings, st.store()), [workflow])[0]
    entries, foreign = list_dlq(settings, wf)
    done = replayed_ok(st.store(), wf.name)
    rows = [{**e.as_dict(), "replayed": (e.dlq_partition, e.dlq_offset) in done} for e in entries]
    if json_out:
        print_json(
            {
                "workflow": wf.name,
                "topic": wf.dlq_topic,
                "count": len(rows),
                "pending": sum(not r["replayed"] for r in rows),
                "foreign_records": foreign,
                "entries": rows,
            }
        )
        return
    table = Table("event id", "stage", "attempts", "at", "origin", "replayed", "error")
    for r in rows:
        o = r["origin"]
        table.add_row(
            str(r["event_id"]),
            r["stage"],
            str(r["attempts"]),
            r["dead_lettered_at"],
            f"{o['topic']}[{o['partition']}]@{o['offset']}",
            "yes" if r["replayed"] else "no",
            r["error"][:80],
        )
    out.print(table)
    out.print(
        f"{len(rows)} dead letters in {wf.dlq_topic}, "
        f"{sum(not r['replayed'] for r in rows)} not replayed"
    )


@app.command("replay")
def replay_entries(
    ctx: typer.Context,
    workflow: WorkflowArg,
    since: Annotated[str | None, typer.Option(help="Only dead-lettered at/after (ISO).")] = None,
    ids: Annotated[str | None, typer.Option(help="Only these event ids (comma-separated).")] = None,
    again: Annotated[bool, typer.Option("--again", help="Also entries replayed before.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
    json_out: Json = False,
) -> None:
    """Re-deliver WORKFLOW's dead letters with their idempotency keys; exit 1 if any failed."""
    since_at = _since(since)  # bad input is refused before anything is read
    st = state(ctx)
    settings = st.settings()
    wf = pick(deployed_workflows(settings, st.store()), [workflow])[0]
    env = wf.sink.signing_secret_env
    secret = secret_from_env(env, f"signing secret of {wf.name}") if env else None
    transform = signed_transform_loader(settings)(wf.transformation)
    wanted = {i.strip() for i in ids.split(",") if i.strip()} if ids else None
    report = replay(
        settings,
        st.store(),
        wf,
        transform,
        secret,
        since=since_at,
        ids=wanted,
        again=again,
        dry_run=dry_run,
    )
    if json_out:
        print_json(report.as_dict())
    else:
        verb = "would replay" if dry_run else "replayed"
        out.print(
            f"{wf.name}: {report.selected} selected, {report.skipped_already_replayed} "
            f"already replayed, {len(report.replayed)} {verb}, {len(report.failed)} failed"
        )
        for row in report.failed:
            out.print(f"  [red]failed[/] {row['event_id']}: {row['replay_error']}")
    raise typer.Exit(1 if report.failed else 0)
