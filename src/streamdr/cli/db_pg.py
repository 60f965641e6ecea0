"""`streamdr db …` on a PostgreSQL metadata DB: pgBackRest setup, backups, status, restore."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from streamdr.cli.options import finish_plan
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import CliState
from streamdr.clock import utcnow
from streamdr.metadb.pg_pitr import (
    backup_status,
    execute_pg_restore,
    plan_pg_restore,
    run_backup,
    setup_stanza,
    verify_backups,
)
from streamdr.metadb.pgbackrest import archive_conf_lines, pgbackrest_settings, prepare


def setup(st: CliState, act: bool, json_out: bool) -> None:
    """Write pgbackrest.conf, show the cluster's archive lines; act: stanza-create and check."""
    rt = prepare(st.settings())
    lines = archive_conf_lines(rt.cfg, rt.config, rt.binary)
    doc: dict[str, Any] = {"config": str(rt.config), "postgresql_conf": lines}
    if not act:
        if not json_out:
            out.print(f"Wrote {literal(rt.config)}. Add to the cluster's postgresql.conf:")
            out.print(literal(lines), highlight=False)
        finish_plan(json_out, doc)
        return
    doc.update(setup_stanza(rt))
    if json_out:
        print_json(doc)
        return
    out.print(f"Stanza {rt.cfg.stanza} is ready in {literal(rt.repo.shown)}; check passed")


def backup(st: CliState, kind: str, json_out: bool) -> None:
    """Take one pgBackRest backup and print it."""
    doc = run_backup(prepare(st.settings()), kind)
    if json_out:
        print_json(doc)
        return
    out.print(
        f"Backup {literal(doc.get('label'))} ({doc.get('type')}) finished at "
        f"{doc.get('finished_at')} in {doc['seconds']:.1f}s"
    )


def status(st: CliState, json_out: bool) -> None:
    """Print the newest backup, its age and how far WAL is archived."""
    doc = backup_status(prepare(st.settings()), st.store().url, utcnow())
    if json_out:
        print_json(doc)
        return
    last = doc.get("last_backup") or {}
    rows = [
        ("repository", doc["repository"]),
        ("stanza", f"{doc['stanza']} ({doc.get('status') or doc.get('error')})"),
        ("last backup", f"{last.get('label')} {last.get('type')} at {last.get('finished_at')}"),
        ("backup age", f"{doc.get('last_backup_age_seconds')} s"),
        ("WAL archived up to", f"{doc.get('wal_archived_up_to')} at {doc.get('wal_archived_at')}"),
        ("archive age", f"{doc.get('wal_archive_age_seconds')} s"),
        ("archive failures", str(doc.get("archive_failures", doc.get("archiver_error")))),
    ]
    for name, value in rows:
        out.print(f"{name:>20}: {literal(value)}")


def verify(st: CliState, json_out: bool) -> None:
    """Run pgBackRest's check and verify; exit 1 when either fails."""
    doc = verify_backups(prepare(st.settings()))
    if json_out:
        print_json(doc)
    else:
        verdict = "[green]PASS[/]" if doc["passed"] else "[red]FAIL[/]"
        out.print(f"{verdict} {literal(doc['repository'])} {literal('; '.join(doc['problems']))}")
    if not doc["passed"]:
        raise typer.Exit(1)


def restore(
    st: CliState,
    when: datetime | None,
    target: Path | None,
    *,
    act: bool,
    force: bool,
    json_out: bool,
) -> None:
    """Plan (or with ``act`` execute) a point-in-time restore into a data directory."""
    settings = st.settings()
    cfg = pgbackrest_settings(settings)
    final = (target or Path(cfg.pg_data)).resolve()
    has_data = final.is_dir() and any(final.iterdir())
    rt = prepare(settings)
    plan = plan_pg_restore(rt, when, final, utcnow(), target_has_data=has_data)
    if not act:
        if not json_out:
            out.print_json(data={"dry_run": True, "plan": plan.as_dict()})
        finish_plan(json_out, {"dry_run": True, "plan": plan.as_dict()})
        return
    result = execute_pg_restore(settings, rt, plan, st.store().url, force=force)
    if json_out:
        print_json(result.as_dict())
        return
    out.print(
        f"Restored {literal(plan.target)} from stanza {plan.stanza} "
        f"({plan.as_dict()['to_time']}) in {result.seconds:.1f}s; validation passed"
    )
    if plan.set_aside:
        out.print(f"  the previous data directory is kept as {literal(plan.set_aside)}")
    for line in result.integrity.fixed + result.integrity.warnings:
        out.print(f"  [yellow]note:[/] {literal(line)}")
