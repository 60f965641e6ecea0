"""`streamdr db …`: the metadata DB's continuous backup, restore and validation.

A SQLite metadata DB is replicated by Litestream; a PostgreSQL one is archived and backed up by
pgBackRest (:mod:`streamdr.cli.db_pg`). The commands are the same for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli import db_pg
from streamdr.cli.options import DryRun, Execute, Json, finish_plan, wants_execute
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import CliState, state
from streamdr.clock import parse_time, utcnow
from streamdr.errors import FailedCheckError, InputError
from streamdr.metadb.integrity import validate_metadata_db
from streamdr.metadb.litestream import pick, prepare, run_litestream, sqlite_path
from streamdr.metadb.pg_pitr import BACKUP_TYPES
from streamdr.metadb.pgbackrest import is_postgres
from streamdr.metadb.restore import execute_restore, plan_metadb_restore, restore_args
from streamdr.metadb.status import replica_status, verify_replica

app = typer.Typer(
    help="The metadata DB: continuous backup status and verify, point-in-time restore, validate.",
    no_args_is_help=True,
)
backup_app = typer.Typer(
    help="Backups of the metadata DB (Litestream replicas or pgBackRest).", no_args_is_help=True
)
app.add_typer(backup_app, name="backup")
Replica = Annotated[str | None, typer.Option(help="Replica name (default: the first).")]


def _postgres(st: CliState) -> bool:
    """Return True when the metadata DB is PostgreSQL (pgBackRest), False for SQLite."""
    return is_postgres(st.store().url)


def _pg_only(what: str) -> InputError:
    return InputError(
        f"`db backup {what}` is for a PostgreSQL metadata DB (pgBackRest)",
        hint="Litestream backs a SQLite metadata DB up continuously: see `db backup status`.",
    )


@backup_app.command("setup")
def backup_setup(
    ctx: typer.Context, execute: Execute = False, dry_run: DryRun = False, json_out: Json = False
) -> None:
    """Write pgbackrest.conf and print the cluster's archive lines; --execute: create the stanza."""
    st = state(ctx)
    if not _postgres(st):
        raise _pg_only("setup")
    db_pg.setup(st, wants_execute(execute, dry_run), json_out)


@backup_app.command("run")
def backup_run(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Option("--type", help=f"One of {', '.join(BACKUP_TYPES)}.")
    ] = "full",
    json_out: Json = False,
) -> None:
    """Take one pgBackRest backup of a PostgreSQL metadata DB."""
    st = state(ctx)
    if not _postgres(st):
        raise _pg_only("run")
    db_pg.backup(st, kind, json_out)


@backup_app.command("status")
def backup_status(ctx: typer.Context, json_out: Json = False) -> None:
    """Show each replica's newest transaction against the local DB's (PostgreSQL: pgBackRest)."""
    st = state(ctx)
    if _postgres(st):
        db_pg.status(st, json_out)
        return
    db = sqlite_path(st.store().url)
    rows = [replica_status(r, db) for r in prepare(st.settings(), db)]
    if json_out:
        print_json(rows)
        return
    table = Table("replica", "location", "replica txid", "local txid", "newest file", "state")
    for r in rows:
        status = r.get("error") or ("caught up" if r.get("caught_up") else "behind")
        table.add_row(
            r["replica"],
            literal(r["location"]),
            r.get("txid") or "-",
            r.get("local_txid") or "-",
            r.get("latest_file_at") or "-",
            literal(status),
        )
    out.print(table)


@backup_app.command("verify")
def backup_verify(ctx: typer.Context, replica: Replica = None, json_out: Json = False) -> None:
    """Restore each replica's latest state to a scratch file and validate it; exit 1 on failure.

    PostgreSQL: pgBackRest's check (archiving works) and verify (repository checksums).
    """
    st = state(ctx)
    if _postgres(st):
        db_pg.verify(st, json_out)
        return
    db = sqlite_path(st.store().url)
    replicas = prepare(st.settings(), db)
    chosen = [pick(replicas, replica)] if replica else replicas
    rows = [verify_replica(st.settings(), r, db) for r in chosen]
    if json_out:
        print_json(rows)
    else:
        for r in rows:
            verdict = "[green]PASS[/]" if r["passed"] else "[red]FAIL[/]"
            why = r.get("error") or "; ".join(r.get("integrity", {}).get("problems", []))
            out.print(f"{verdict} {r['replica']} ({literal(r['location'])}) {literal(why)}")
    if not all(r["passed"] for r in rows):
        raise typer.Exit(1)


@app.command()
def restore(
    ctx: typer.Context,
    to_time: Annotated[
        str | None, typer.Option("--to-time", help="ISO time to restore to (default: latest).")
    ] = None,
    target: Annotated[
        Path | None, typer.Option(help="Write here instead of the metadata DB's own file.")
    ] = None,
    replica: Replica = None,
    execute: Execute = False,
    dry_run: DryRun = False,
    force: Annotated[
        bool, typer.Option("--force", help="Restore even if a serve lease looks live.")
    ] = False,
    json_out: Json = False,
) -> None:
    """Restore the metadata DB to a point in time: staging file, validate, rename into place.

    Prints the plan unless --execute. Exit codes: 0 restored (or planned), 1 the restored file
    failed validation (the target is untouched), 2 bad input or a live serve lease, 3 the replica
    cannot be reached. PostgreSQL: --target is a data directory (default pgbackrest.pg_data);
    stop, set aside, pgbackrest restore, start, wait for promotion, validate.
    """
    act = wants_execute(execute, dry_run)
    st = state(ctx)
    when = parse_time(to_time, "--to-time") if to_time else None
    if _postgres(st):
        db_pg.restore(st, when, target, act=act, force=force, json_out=json_out)
        return
    db = sqlite_path(st.store().url)
    runtime = pick(prepare(st.settings(), db), replica)
    final = target.resolve() if target else None
    existing = final or db
    # An empty file is what opening the metadata DB creates; there is nothing to set aside.
    has_data = existing.exists() and existing.stat().st_size > 0
    plan = plan_metadb_restore(db, runtime, when, final, utcnow(), target_exists=has_data)
    if not act:
        files = run_litestream(runtime, restore_args(plan, plan.staging, dry_run=True))
        doc = {"dry_run": True, "plan": plan.as_dict(), "litestream": files.strip()}
        if not json_out:
            out.print_json(data=doc)
        finish_plan(json_out, doc)
        return
    result = execute_restore(st.settings(), plan, runtime, force=force)
    if json_out:
        print_json(result.as_dict())
        return
    out.print(
        f"Restored {literal(plan.target)} from replica {plan.replica} "
        f"({plan.as_dict()['to_time']}) in {result.seconds:.1f}s; validation passed"
    )
    if plan.set_aside:
        out.print(f"  the previous file is kept as {literal(plan.set_aside)}")
    for line in result.integrity.fixed + result.integrity.warnings:
        out.print(f"  [yellow]note:[/] {literal(line)}")


@app.command()
def validate(ctx: typer.Context, json_out: Json = False) -> None:
    """Validate the metadata DB (schema, deployments, drill history, runs, outboxes)."""
    st = state(ctx)
    store = st.store()
    # Like every command on the live DB, create tables a newer streamdr added (the schema check
    # is what catches an old or foreign file after a restore, before it is renamed into place).
    store.engine  # noqa: B018
    report = validate_metadata_db(st.settings(), store, fix=False)
    if json_out:
        print_json(report.as_dict())
    else:
        out.print(f"checked: {', '.join(report.checked)}")
        for line in report.problems:
            out.print(f"  [red]problem:[/] {literal(line)}")
        for line in report.warnings:
            out.print(f"  [yellow]warning:[/] {literal(line)}")
    if not report.passed:
        raise FailedCheckError(
            f"metadata DB validation found {len(report.problems)} problems",
            hint="Restore it with `streamdr db restore --to-time …` (see docs/control-plane.md).",
        )
