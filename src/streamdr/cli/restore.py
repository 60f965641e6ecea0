"""`streamdr restore`: restore a topic (or partitions, or a time range) from a backup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from streamdr.backup.layout import LayoutError, check_topic
from streamdr.backup.targets import backup_stores
from streamdr.cli.options import (
    DryRun,
    Execute,
    Json,
    Prefix,
    Target,
    Yes,
    finish_plan,
    optional_time,
    wants_execute,
)
from streamdr.cli.render import err, literal, out, print_json
from streamdr.cli.state import state
from streamdr.clock import ms_to_datetime
from streamdr.errors import InputError
from streamdr.restore.executor import RestoreExecutor, RestoreResult
from streamdr.restore.plan import RestorePlan, RestoreRequest
from streamdr.restore.rewind import parse_partitions


class RichProgress:
    """A progress bar on stderr, one task per phase."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        )

    def phase(self, name: str, total: int | None) -> Callable[[int], None]:
        """Add a bar for ``name`` and return the function that moves it (thread-safe)."""
        task = self.bar.add_task(f"{name:<8}", total=total)
        return lambda records: self.bar.advance(task, records)


def _topic(name: str, option: str) -> str:
    try:
        return check_topic(name)
    except LayoutError as exc:
        raise InputError(
            f"{option} {name!r} is not a valid Kafka topic name",
            hint="Topic names use letters, digits, '.', '_' and '-' (`backup list` shows them).",
        ) from exc


def _config(items: list[str] | None) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(
                f"--config {item!r} must be key=value", hint="E.g. --config retention.ms=-1"
            )
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def restore(
    ctx: typer.Context,
    topic: Annotated[str, typer.Option(help="Backed-up topic to restore.")],
    partitions: Annotated[str | None, typer.Option(help="Only these partitions, e.g. 0,3.")] = None,
    from_time: Annotated[
        str | None, typer.Option(help="First record time, ISO 8601 (inclusive).")
    ] = None,
    to_time: Annotated[
        str | None, typer.Option(help="End of the range, ISO 8601 (exclusive).")
    ] = None,
    to_topic: Annotated[
        str | None, typer.Option(help="Restore into this topic (default: same name).")
    ] = None,
    to_site: Annotated[
        str | None, typer.Option(help="Restore into this site (default: --site).")
    ] = None,
    restore_offsets: Annotated[
        list[str] | None,
        typer.Option(
            "--restore-offsets", help="Consumer group whose offsets to restore (repeatable)."
        ),
    ] = None,
    all_groups: Annotated[
        bool, typer.Option("--all-groups", help="Restore offsets of every group on the topic.")
    ] = False,
    groups_snapshot: Annotated[
        str | None, typer.Option(help="Groups snapshot id to take offsets from (default: newest).")
    ] = None,
    config: Annotated[
        list[str] | None,
        typer.Option("--config", help="Target topic setting key=value (repeatable)."),
    ] = None,
    site: Annotated[
        str | None, typer.Option(help="Site whose backup (default: the active site).")
    ] = None,
    target: Target = None,
    prefix: Prefix = None,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    force: Annotated[
        bool, typer.Option("--force", help="Append to a non-empty target topic.")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="Abandon an unfinished restore into the same topic.")
    ] = False,
    parallel: Annotated[
        int,
        typer.Option(min=1, max=64, help="Partitions restored at once (one thread each)."),
    ] = 1,
    json_out: Json = False,
) -> None:
    """Restore topics from a backup: plan, then with --execute write the records.

    Records keep their partition, key, headers and time.

    Not `rollback` (a workflow's transformation version) nor `offsets restore` (group offsets).

    Exit codes: 0 restored and verified; 1 the verification failed;
    2 bad input (e.g. a non-empty target without --force); 3 Kafka or the store unreachable.
    """
    act = wants_execute(execute, dry_run, yes)
    if restore_offsets and all_groups:
        raise InputError("--restore-offsets and --all-groups exclude each other")
    st = state(ctx)
    settings = st.settings()
    site_name, _ = settings.site(site)
    dest, _ = settings.site(to_site or site_name)
    request = RestoreRequest(
        topic=_topic(topic, "--topic"),
        to_site=dest,
        partitions=parse_partitions(partitions),
        from_time=optional_time(from_time, "--from-time"),
        to_time=optional_time(to_time, "--to-time"),
        to_topic=_topic(to_topic, "--to-topic") if to_topic else None,
        groups=tuple(restore_offsets or ()),
        all_groups=all_groups,
        groups_snapshot=groups_snapshot,
        config=_config(config),
        force=force,
    )
    store = backup_stores(settings, site_name, [target] if target else None, prefix)[0]
    progress = None if json_out else RichProgress()
    executor = RestoreExecutor(settings, st.store(), store, progress, parallel=parallel)
    plan = executor.prepare(request)
    if not json_out:
        _print_plan(plan)
    if not act:
        finish_plan(json_out, {"dry_run": True, "plan": plan.as_dict()})
        return
    if progress is not None:
        with progress.bar:
            result = executor.execute(plan, restart=restart)
    else:
        result = executor.execute(plan, restart=restart)
    if json_out:
        print_json({"dry_run": False, "plan": plan.as_dict(), "result": result.as_dict()})
    else:
        _print_result(result)
    raise typer.Exit(0 if result.verified else 1)


def _time(ms: int | None) -> str:
    return ms_to_datetime(ms).isoformat(timespec="seconds") if ms is not None else "-"


def _print_plan(plan: RestorePlan) -> None:
    req = plan.request
    source = literal(f"{req.topic} from {plan.store}:{plan.prefix}")
    out.print(
        f"Plan: {source} → {literal(req.target_topic)} on {literal(req.to_site)} "
        f"({plan.topic.partitions} partitions if created)"
    )
    table = Table("partition", "files", "records", "offsets", "from", "to")
    for p in plan.partitions:
        files = [f.entry for f in p.files]
        table.add_row(
            str(p.partition),
            str(len(files)),
            str(p.expected),
            f"{files[0].first_offset}-{files[-1].last_offset}" if files else "-",
            _time(
                min((f.min_timestamp for f in files if f.min_timestamp is not None), default=None)
            ),
            _time(
                max((f.max_timestamp for f in files if f.max_timestamp is not None), default=None)
            ),
        )
    out.print(table)
    out.print(f"Expected records: {plan.expected}")
    for w in plan.warnings:
        out.print(f"  [yellow]warning:[/] {literal(w)}")


def _print_result(result: RestoreResult) -> None:
    doc = result.as_dict()
    verdict = "[green]verified[/]" if result.verified else "[red]VERIFICATION FAILED[/]"
    out.print(
        f"Restore #{doc['restore_id']}{' (resumed)' if doc['resumed'] else ''}: {doc['records']} "
        f"records into {literal(doc['target_topic'])} on {literal(doc['target_site'])} "
        f"in {doc['seconds']}s "
        f"({doc['produced']} produced now, {doc['skipped_already_restored']} before) — {verdict}"
    )
    for p in doc["partitions"]:
        v = p["verification"] or {}
        if not v.get("ok", False):
            out.print(f"  [red]partition {p['partition']}[/]: {literal(v)}")
    for g in doc["groups"]:
        where = literal(f"{g['group']} {g['topic']}[{g['partition']}]")
        out.print(f"  group {where}: {g['original_offset']} → {g['restored_offset']}")
