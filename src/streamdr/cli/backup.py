"""`streamdr backup …`: back topics up to object storage, list, verify, apply retention."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from streamdr.cli.options import (
    DryRun,
    Execute,
    Json,
    Prefix,
    Yes,
    optional_time,
    print_plan_only,
    wants_execute,
)
from streamdr.cli.render import err, literal, out, print_json
from streamdr.cli.state import state
from streamdr.clock import utcnow
from streamdr.errors import FailedCheckError, InputError

if TYPE_CHECKING:
    from streamdr.backup.store import BackupStore
    from streamdr.backup.writer import WriterStats
    from streamdr.store.db import MetadataStore

# The backup stack (pyarrow, sqlalchemy) is imported inside each command: `streamdr backup --help`
# and every other `streamdr` command would otherwise pay for it.

app = typer.Typer(
    help="Back Kafka topics up to object storage (Parquet), list, verify, apply retention.",
    no_args_is_help=True,
)
Site = Annotated[str | None, typer.Option(help="Site whose topics (default: the active site).")]
Targets = Annotated[
    list[str] | None,
    typer.Option("--target", help="Object store from streamdr.yaml (repeatable; default: local)."),
]


def _stores(
    ctx: typer.Context, site: str | None, targets: list[str] | None, prefix: str | None
) -> tuple[str, list[BackupStore]]:
    from streamdr.backup.targets import backup_stores

    settings = state(ctx).settings()
    site_name, _ = settings.site(site)
    return site_name, backup_stores(settings, site_name, targets, prefix)


@app.command()
def run(
    ctx: typer.Context,
    site: Site = None,
    topics: Annotated[
        str | None, typer.Option(help="Regex of topics (whole name; default: all non-internal).")
    ] = None,
    target: Targets = None,
    prefix: Prefix = None,
    continuous: Annotated[
        bool, typer.Option("--continuous", help="Keep backing up until SIGTERM/Ctrl-C.")
    ] = False,
    max_file_records: Annotated[
        int, typer.Option(min=1, help="Roll a file at this many records.")
    ] = 1_000_000,
    max_file_mb: Annotated[int, typer.Option(min=1, help="Roll a file at this many MiB.")] = 64,
    max_buffer_mb: Annotated[
        int, typer.Option(min=8, help="Cap on all buffered records, MiB (bounds memory).")
    ] = 64,
    flush_interval: Annotated[
        float, typer.Option(min=0.1, help="Roll a file after this many seconds (bounds RPO).")
    ] = 60.0,
    snapshot_interval: Annotated[
        float, typer.Option(min=1, help="Seconds between offset/config snapshots (continuous).")
    ] = 300.0,
    scale_out: Annotated[
        bool,
        typer.Option(
            "--scale-out",
            help="With --continuous: share the partitions with the other --scale-out processes "
            "of this backup through a Kafka consumer group.",
        ),
    ] = False,
    session_timeout: Annotated[
        float,
        typer.Option(
            min=6, max=300, help="--scale-out: seconds before a dead process's partitions move."
        ),
    ] = 10.0,
    json_out: Json = False,
) -> None:
    """Back up topics incrementally: each run continues where the last one ended."""
    from streamdr.backup.service import BackupOptions, BackupService
    from streamdr.backup.writer import RollPolicy

    st = state(ctx)
    site_name, stores = _stores(ctx, site, target, prefix)
    roll = RollPolicy(max_file_records, max_file_mb << 20, flush_interval, max_buffer_mb << 20)
    options = BackupOptions(
        site_name,
        topics,
        continuous,
        roll,
        snapshot_interval,
        scale_out=scale_out,
        session_timeout_s=session_timeout,
    )
    stop = threading.Event()
    service = BackupService(
        st.settings(), st.store(), stores, options, stop=stop, on_tick=None if json_out else _tick
    )
    with _stop_on_signals(stop):
        summary = service.run()
    if json_out:
        print_json(summary.as_dict())
        return
    doc = summary.as_dict()
    out.print(
        f"Backed up {doc['records']} records of {len(doc['topics'])} topics "
        f"({doc['partitions']} partitions) into {doc['files']} files, {doc['bytes']} bytes, "
        f"in {doc['seconds']}s → {literal(', '.join(doc['stores']))}:{literal(doc['prefix'])}"
    )
    for gap in doc["gaps_recorded"]:
        out.print(f"  [yellow]gap[/] {literal(gap)}")
    for warning in doc["warnings"]:
        out.print(f"  [yellow]warning:[/] {literal(warning)}")


def _tick(stats: WriterStats) -> None:
    err.print(
        f"  consumed {stats.consumed}, written {stats.records_written} records in "
        f"{stats.files} files",
        end="\r",
    )


class _stop_on_signals:
    """Set ``stop`` on SIGTERM/SIGINT so the run flushes what it read and exits cleanly."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.saved[sig] = signal.signal(sig, lambda *_: self.stop.set())

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


@app.command("list")
def list_backups(
    ctx: typer.Context,
    site: Site = None,
    target: Targets = None,
    prefix: Prefix = None,
    json_out: Json = False,
) -> None:
    """Show each backed-up topic: offsets, counts, time span and the age of its newest data."""
    from streamdr.backup import catalog

    _site, stores = _stores(ctx, site, target, prefix)
    store = stores[0]
    now = utcnow()
    summaries = catalog.summarize(store.manifests())
    doc = {
        "store": store.name,
        "prefix": store.prefix,
        "now": now.isoformat(),
        "topics": [s.as_dict(now) for s in summaries],
        "snapshots": {k: store.snapshot_ids(k)[-5:] for k in ("groups", "topics")},
        "recent_runs": _runs(state(ctx).store()),
    }
    if json_out:
        print_json(doc)
        return
    table = Table(
        "topic", "parts", "records", "files", "MiB", "from", "to", "newest data age", "lost"
    )
    for s in summaries:
        d = s.as_dict(now)
        age = s.age_seconds(now)
        table.add_row(
            literal(s.topic),
            str(len(s.partitions)),
            str(s.records),
            str(d["files"]),
            f"{d['bytes'] / 2**20:.1f}",
            (d["min_time"] or "-")[:16],
            (d["max_time"] or "-")[:16],
            _age(age),
            str(d["lost_to_retention"]),
        )
    out.print(
        table if summaries else f"No backups in {literal(store.name)}:{literal(store.prefix)}."
    )


def _runs(db: MetadataStore) -> list[dict[str, Any]]:
    from streamdr.backup.history import recent_runs

    return [
        {k: r[k] for k in ("id", "site", "target", "prefix", "started_at", "finished_at", "status")}
        for r in recent_runs(db, 5)
    ]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 3600:.1f}h" if seconds < 172800 else f"{seconds / 86400:.1f}d"


@app.command()
def verify(
    ctx: typer.Context,
    site: Site = None,
    target: Targets = None,
    prefix: Prefix = None,
    deep: Annotated[
        bool, typer.Option("--deep", help="Also read every file: sha256 and contents.")
    ] = False,
    rule: Annotated[
        str | None, typer.Option(help="Also judge a rule over the copies: 3-2-1.")
    ] = None,
    json_out: Json = False,
) -> None:
    """Check catalog against objects and offset continuity; exit 1 when anything is wrong."""
    from streamdr.backup.targets import backup_stores, default_target
    from streamdr.backup.verify import evaluate_321, verify_store

    if rule not in (None, "3-2-1"):
        raise InputError(f"unknown rule {rule!r}", hint="The only rule is 3-2-1.")
    settings = state(ctx).settings()
    site_name, _ = settings.site(site)
    names = target
    if rule and not target:
        primary = default_target(settings)
        names = [primary, *(s for s in settings.stores if s != primary)]
    stores = backup_stores(settings, site_name, names, prefix)
    reports = [verify_store(s, deep=deep) for s in stores]
    verdict = evaluate_321(reports) if rule else None
    passed = all(r.passed for r in reports) and (verdict is None or verdict.passed)
    if json_out:
        print_json(
            {
                "passed": passed,
                "copies": [r.as_dict() for r in reports],
                "rule": verdict.as_dict() if verdict else None,
            }
        )
    else:
        for r in reports:
            out.print(
                f"{literal(r.store)} ({r.media}{', offsite' if r.offsite else ''}): "
                f"{'[green]ok[/]' if r.passed else '[red]FAILED[/]'} — {r.entries} entries, "
                f"{r.files} files, {r.records} records, {len(r.errors)} errors"
            )
            for f in r.findings:
                colour = "red" if f.severity == "error" else "yellow"
                out.print(f"  [{colour}]{f.kind}[/] {literal(f.where)}: {literal(f.detail)}")
        if verdict:
            out.print(f"3-2-1 rule: {'[green]PASS[/]' if verdict.passed else '[red]FAIL[/]'}")
            for reason in verdict.reasons:
                out.print(f"  {literal(reason)}")
    if not passed:
        errors = sum(len(r.errors) for r in reports)
        raise FailedCheckError(
            f"backup verification failed: {errors} errors"
            + ("" if verdict is None or verdict.passed else ", and the 3-2-1 rule fails"),
            hint="Each finding above names the object; restore damaged or missing objects from "
            "another copy (`backup verify --target <copy>`), or re-run `backup run`.",
        )


@app.command("apply-retention")
def apply_retention_cmd(
    ctx: typer.Context,
    site: Site = None,
    target: Targets = None,
    prefix: Prefix = None,
    archive_target: Annotated[
        str | None, typer.Option(help="Store for the archive class (default: one named 'archive').")
    ] = None,
    now: Annotated[
        str | None, typer.Option(help="Evaluate ages at this ISO time (default: now).")
    ] = None,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_out: Json = False,
) -> None:
    """Move files past 90 days to the archive class and delete those past 7 years.

    Prints the plan; moves and deletes only with --execute.
    """
    from streamdr.backup.retention import apply_retention, plan_retention
    from streamdr.backup.targets import backup_stores

    dry_run = not wants_execute(execute, dry_run, yes)
    at = optional_time(now, "--now") or utcnow()
    settings = state(ctx).settings()
    site_name, _ = settings.site(site)
    stores = backup_stores(settings, site_name, target, prefix)
    archive_name = archive_target or ("archive" if "archive" in settings.stores else None)
    archive = (
        backup_stores(settings, site_name, [archive_name], prefix)[0] if archive_name else None
    )
    standard = [s for s in stores if archive is None or s.name != archive.name]
    plan = plan_retention(
        {s.name: s.manifests() for s in standard},
        (archive.name, archive.manifests()) if archive else None,
        at,
        s3_stores=frozenset(s.name for s in standard if s.objects.supports_lifecycle_rules),
    )
    done = (
        {}
        if dry_run
        else apply_retention(
            plan, {s.name: s for s in [*standard, *([archive] if archive else [])]}
        )
    )
    if json_out:
        print_json({"dry_run": dry_run, **plan.as_dict(), "done": done})
    else:
        out.print(
            f"Retention at {at.isoformat()}: {plan.count('archive')} to archive, "
            f"{plan.count('delete')} to delete, {plan.count('archive-by-lifecycle')} left to the "
            f"S3 lifecycle rule" + ("" if dry_run else f"; done {literal(done)}")
        )
        for w in plan.warnings:
            out.print(f"  [yellow]warning:[/] {literal(w)}")
    if dry_run:
        print_plan_only(json_out)


@app.command()
def lifecycle(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="Output format: s3.")] = "s3",
    site: Site = None,
    target: Targets = None,
    prefix: Prefix = None,
    storage_class: Annotated[
        str, typer.Option(help="S3 archive class: GLACIER, DEEP_ARCHIVE, GLACIER_IR.")
    ] = "GLACIER",
) -> None:
    """Print the S3 bucket lifecycle rules (JSON) equal to the retention policy."""
    from streamdr.backup.retention import STRATEGY, lifecycle_rules_s3

    if fmt != "s3":
        raise InputError(f"unknown lifecycle format {fmt!r}", hint="The only format is s3.")
    if storage_class not in ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "STANDARD_IA"):
        raise InputError(
            f"unknown storage class {storage_class!r}", hint="Use GLACIER or DEEP_ARCHIVE."
        )
    _site, stores = _stores(ctx, site, target, prefix)
    store = stores[0]
    # Rules filter on keys inside the bucket: the store's own prefix in it comes first.
    base = store.objects.bucket_and_prefix()[1] if store.objects.supports_lifecycle_rules else ""
    key_prefix = f"{base}/{store.prefix}" if base else store.prefix
    print_json(lifecycle_rules_s3(key_prefix, STRATEGY, storage_class))
