"""`streamdr dlq …`: list a workflow's dead letters and replay them with the same keys."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Annotated, Any

import typer
from rich.table import Table

from streamdr.cli.options import (
    DryRun,
    Execute,
    Json,
    Yes,
    optional_time,
    print_plan_only,
    wants_execute,
)
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError
from streamdr.pipeline.deployed import deployed_workflows, pick, signed_transform_loader
from streamdr.pipeline.dlq import DlqEntry, DlqRecord
from streamdr.pipeline.dlq_paging import BatchPolicy, Cursor, format_cursor, parse_cursor
from streamdr.pipeline.replay import open_dlq, replay, replayed_among
from streamdr.signature import secret_from_env
from streamdr.store.db import MetadataStore

app = typer.Typer(help="Dead-letter queues: inspect and replay.", no_args_is_help=True)
WorkflowArg = Annotated[str, typer.Argument(help="Deployed workflow name.")]


PAGE_ROWS = 500  # entries looked up in the metadata DB and printed together


def _cursor(value: str | None) -> Cursor | None:
    if value is None:
        return None
    try:
        return parse_cursor(value)
    except ValueError as exc:
        raise InputError(
            f"--from {value!r}: {exc}",
            hint="Give PARTITION:OFFSET pairs, e.g. 0:1200,1:1180 (the `next` of a previous page).",
        ) from exc


@app.command("list")
def list_entries(
    ctx: typer.Context,
    workflow: WorkflowArg,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N entries (default: all, streamed).")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Start at PARTITION:OFFSET,… (a previous page's `next`)."),
    ] = None,
    idle_timeout: Annotated[
        float, typer.Option(min=1, help="Fail after this many seconds without progress.")
    ] = 30.0,
    json_out: Annotated[
        bool, typer.Option("--json", help="JSON lines: one per entry, then a summary line.")
    ] = False,
) -> None:
    """List WORKFLOW's dead letters: event id, stage, reason, attempts, origin, replayed."""
    start = _cursor(from_)  # bad input is refused before anything is read
    st = state(ctx)
    settings = st.settings()
    store = st.store()
    wf = pick(deployed_workflows(settings, store), [workflow])[0]
    summary: dict[str, Any] = {"workflow": wf.name, "topic": wf.dlq_topic, "count": 0}
    summary.update(pending=0, foreign_records=0)
    with open_dlq(settings, wf, start, idle_timeout) as reader:
        entries: Iterator[DlqEntry] = _entries_only(reader.records(), summary)
        if limit is not None:
            entries = islice(entries, limit)
        for page in _pages(entries, PAGE_ROWS):
            rows = _with_replayed(store, wf.name, page)
            summary["count"] += len(rows)
            summary["pending"] += sum(not r["replayed"] for r in rows)
            _print_rows(rows, json_out)
        summary["next"] = format_cursor(reader.cursor()) if reader.more else None
    _print_summary(summary, json_out)


def _entries_only(records: Iterator[DlqRecord], summary: dict[str, Any]) -> Iterator[DlqEntry]:
    for record in records:
        if record.entry is None:
            summary["foreign_records"] += 1
        else:
            yield record.entry


def _pages(entries: Iterable[DlqEntry], size: int) -> Iterator[list[DlqEntry]]:
    it = iter(entries)
    while page := list(islice(it, size)):
        yield page


def _with_replayed(store: MetadataStore, workflow: str, page: list[DlqEntry]) -> list[dict]:
    done = replayed_among(store, workflow, [(e.dlq_partition, e.dlq_offset) for e in page])
    return [{**e.as_dict(), "replayed": (e.dlq_partition, e.dlq_offset) in done} for e in page]


def _print_rows(rows: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
        sys.stdout.flush()
        return
    table = Table("event id", "stage", "attempts", "at", "origin", "dlq", "replayed", "error")
    for r in rows:
        o, d = r["origin"], r["dlq"]
        cells = (
            r["event_id"],
            r["stage"],
            r["attempts"],
            r["dead_lettered_at"],
            f"{o['topic']}[{o['partition']}]@{o['offset']}",
            f"{d['partition']}:{d['offset']}",
            "yes" if r["replayed"] else "no",
            r["error"][:80],
        )
        table.add_row(*(literal(c) for c in cells))
    out.print(table)


def _print_summary(summary: dict[str, Any], json_out: bool) -> None:
    if json_out:
        sys.stdout.write(json.dumps({"summary": summary}) + "\n")
        return
    out.print(
        f"{summary['count']} dead letters listed from {literal(summary['topic'])}, "
        f"{summary['pending']} not replayed, {summary['foreign_records']} foreign records"
    )
    if summary["next"]:
        out.print(
            literal(f"More: streamdr dlq list {summary['workflow']} --from {summary['next']}")
        )


@app.command("replay")
def replay_entries(
    ctx: typer.Context,
    workflow: WorkflowArg,
    since: Annotated[str | None, typer.Option(help="Only dead-lettered at/after (ISO).")] = None,
    ids: Annotated[str | None, typer.Option(help="Only these event ids (comma-separated).")] = None,
    again: Annotated[bool, typer.Option("--again", help="Also entries replayed before.")] = False,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Entries delivered, then recorded, together.")
    ] = 500,
    idle_timeout: Annotated[
        float, typer.Option(min=1, help="Fail after this many seconds without progress.")
    ] = 30.0,
    json_out: Json = False,
) -> None:
    """Re-deliver WORKFLOW's dead letters with their idempotency keys; exit 1 if any failed.

    Counts what would go; re-delivers only with --execute.
    """
    dry_run = not wants_execute(execute, dry_run, yes)
    since_at = optional_time(since, "--since")  # bad input is refused before anything is read
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
        policy=BatchPolicy(size=batch_size),
        idle_timeout=idle_timeout,
    )
    if json_out:
        print_json(report.as_dict())
    else:
        verb = "would replay" if dry_run else "replayed"
        out.print(
            f"{literal(wf.name)}: {report.selected} selected, {report.skipped_already_replayed} "
            f"already replayed, {report.replayed} {verb}, {report.failed} failed"
        )
        for row in report.failures:
            out.print(
                f"  [red]failed[/] {literal(row['event_id'])}: {literal(row['replay_error'])}"
            )
        if report.failed > len(report.failures):
            out.print(f"  … and {report.failed - len(report.failures)} more (`dlq list`)")
    if dry_run:
        print_plan_only(json_out)
    raise typer.Exit(1 if report.failed else 0)
