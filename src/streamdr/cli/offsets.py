"""`streamdr offsets …`: consumer-group offsets (rewind to a time, snapshot, restore).

``app`` is shared: other capabilities add their commands to it (e.g. ``translate``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from streamdr.backup.snapshots import take_groups_snapshot
from streamdr.backup.targets import backup_stores
from streamdr.cli.offsets_translate import translate
from streamdr.cli.options import (
    DryRun,
    Execute,
    Json,
    Prefix,
    Target,
    Yes,
    print_plan_only,
    wants_execute,
)
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.clock import parse_time
from streamdr.errors import InputError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.restore.groups import GroupAdmin
from streamdr.restore.rewind import (
    OffsetChange,
    apply_changes,
    parse_partitions,
    plan_rewind,
    plan_snapshot_restore,
)

app = typer.Typer(help="Consumer-group offsets: rewind, snapshot, restore.", no_args_is_help=True)
Site = Annotated[str | None, typer.Option(help="Site of the group (default: the active site).")]


def _groups(ctx: typer.Context, site: str | None) -> tuple[str, GroupAdmin]:
    settings = state(ctx).settings()
    name, cfg = settings.site(site)
    return name, GroupAdmin(KafkaAdmin(name, cfg))


def _effect(c: OffsetChange) -> str:
    """Return what a change does to the group's records, in words for the plan table."""
    if c.held_from is not None:
        return f"kept (the time is at {c.held_from}: moving would skip {c.held_from - c.new})"
    if c.current is None:
        return "first offset"
    if c.skipped:
        return f"[red]skips {c.skipped}[/]"
    return f"re-reads {c.reread}" if c.reread else "unchanged"


def _render(changes: list[OffsetChange], executed: bool, warnings: list[str]) -> None:
    table = Table("group", "topic", "partition", "current → new", "records (offsets)")
    for c in changes:
        now = "-" if c.current is None else str(c.current)
        cells = (c.group, c.topic, c.partition, f"{now} → {c.new}")
        table.add_row(*(literal(v) for v in cells), _effect(c))
    out.print(table)
    for w in warnings:
        out.print(f"  [yellow]warning:[/] {literal(w)}")
    if executed:
        out.print("Offsets changed.")
    else:
        print_plan_only()


def _rewind_notes(changes: list[OffsetChange]) -> list[str]:
    """Return the plan's totals as warnings when records would be skipped or a partition kept."""
    skipped = sum(c.skipped or 0 for c in changes)
    kept = [f"{c.topic}[{c.partition}]" for c in changes if c.held_from is not None]
    notes = [f"{skipped} offsets are skipped: those records are never processed"] if skipped else []
    if kept:
        notes.append(f"not moved forward (already before the time): {', '.join(kept)}")
    return notes


@app.command()
def rewind(
    ctx: typer.Context,
    group: Annotated[str, typer.Option(help="Consumer group to move.")],
    to_datetime: Annotated[str, typer.Option(help="ISO 8601 time to rewind to (UTC if no zone).")],
    topic: Annotated[
        str | None, typer.Option(help="Only this topic (default: the group's topics).")
    ] = None,
    partitions: Annotated[
        str | None, typer.Option(help="Only these partitions of --topic, e.g. 0,3.")
    ] = None,
    allow_forward: Annotated[
        bool,
        typer.Option(
            "--allow-forward",
            help="Also move partitions forward (their records up to the time are never read).",
        ),
    ] = False,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    site: Site = None,
    json_out: Json = False,
) -> None:
    """Move a group back to the first record at or after a time (refuses an active group).

    Prints per partition current → new offset and how many offsets are re-read or skipped.
    A partition already before the time keeps its offset unless --allow-forward. Take
    `streamdr offsets snapshot` before --execute to be able to undo.
    """
    execute = wants_execute(execute, dry_run, yes)
    when = parse_time(to_datetime, "--to-datetime")
    parts = parse_partitions(partitions)
    _site, groups = _groups(ctx, site)
    changes = plan_rewind(groups, group, topic, when, partitions=parts, allow_forward=allow_forward)
    if execute:
        apply_changes(groups, changes)
    if json_out:
        print_json(
            {
                "group": group,
                "to_datetime": when.isoformat(),
                "executed": execute,
                "allow_forward": allow_forward,
                "changes": [c.as_dict() for c in changes],
            }
        )
        if not execute:
            print_plan_only(json_out)
    else:
        _render(changes, execute, _rewind_notes(changes))


@app.command()
def snapshot(
    ctx: typer.Context,
    site: Site = None,
    target: Target = None,
    prefix: Prefix = None,
    json_out: Json = False,
) -> None:
    """Store every group's committed offsets next to the site's backup; print the snapshot id."""
    settings = state(ctx).settings()
    site_name, groups = _groups(ctx, site)
    store = backup_stores(settings, site_name, [target] if target else None, prefix)[0]
    snap = take_groups_snapshot(groups)
    key = store.put_snapshot(snap)
    doc = {
        "id": snap.snapshot_id,
        "key": f"{store.name}:{key}",
        "groups": len(snap.groups),
        "taken_at": snap.taken_at.isoformat(),
    }
    if json_out:
        print_json(doc)
    else:
        out.print(f"Snapshot {snap.snapshot_id}: {len(snap.groups)} groups → {literal(doc['key'])}")


@app.command("restore")
def restore_snapshot(
    ctx: typer.Context,
    snapshot_id: Annotated[
        str, typer.Option("--snapshot", help="Snapshot id (`offsets snapshot`).")
    ],
    group: Annotated[
        str | None, typer.Option(help="Only this group (default: all in the snapshot).")
    ] = None,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    site: Site = None,
    target: Target = None,
    prefix: Prefix = None,
    json_out: Json = False,
) -> None:
    """Put groups back to the offsets of a snapshot (each group must be inactive).

    Prints the plan; moves the offsets only with --execute.
    Not `streamdr restore` (topic records from a backup): only committed offsets move.
    """
    execute = wants_execute(execute, dry_run, yes)
    settings = state(ctx).settings()
    site_name, groups = _groups(ctx, site)
    store = backup_stores(settings, site_name, [target] if target else None, prefix)[0]
    snap = store.groups_snapshot(snapshot_id)
    if snap is None:  # cannot happen: a named snapshot loads or raises InputError
        raise InputError(f"no groups snapshot {snapshot_id!r}")
    changes, warnings = plan_snapshot_restore(groups, snap, group)
    if execute:
        apply_changes(groups, changes)
    if json_out:
        print_json(
            {
                "snapshot": snapshot_id,
                "executed": execute,
                "changes": [c.as_dict() for c in changes],
                "warnings": warnings,
            }
        )
        if not execute:
            print_plan_only(json_out)
    else:
        _render(changes, execute, warnings)


# Cross-site offset translation (replication capability) lives in its own module.
app.command("translate")(translate)
