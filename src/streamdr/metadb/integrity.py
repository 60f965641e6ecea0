"""Is a (restored) metadata DB fit to run on? Checks that gather every problem, then judge.

Checks: SQLite's own integrity check; the schema (every table and column streamdr expects);
deployments form one chain (each ``previous_commit`` is the commit before it, times never go
back, and each commit is in the config repository when it is reachable); drill history is
monotonic; no job run is left ``running`` by a serve that is gone (those are marked failed, with
the reason, when ``fix``); and, for each deployed workflow that declares a transactional outbox,
the strategy's stale-PENDING query on its source database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from streamdr.clock import as_utc, utcnow
from streamdr.errors import (
    FailedCheckError,
    InputError,
    StateError,
    StreamdrError,
    UnreachableError,
)
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import drill_runs, job_runs, metadata
from streamdr.workflows.context import open_repo
from streamdr.workflows.deployments import deployed_workflows, deployment_history
from streamdr.workflows.model import Workflow

RESTORED_RUNNING = "running when the metadata DB was restored; its serve is gone; outcome unknown"
# The strategy's post-restore outbox query, with the age as a bound parameter (portable).
STALE_OUTBOX_SQL = "SELECT COUNT(*) FROM {table} WHERE status = 'PENDING' AND created_at < :cutoff"


@dataclass
class IntegrityReport:
    """What was checked, what is wrong, and what was repaired."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Return True when no problem was found."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready mapping."""
        return {"passed": self.passed, **self.__dict__}

    def raise_for_problems(self, what: str) -> None:
        """Raise FailedCheckError naming the first problem when any was found."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise FailedCheckError(
                f"{what} failed validation: {self.problems[0]}{more}",
                hint="Restore to another point in time (--to-time) or from another replica.",
            )


def validate_metadata_db(settings: Settings, store: MetadataStore, *, fix: bool) -> IntegrityReport:
    """Return the integrity report of ``store``; with ``fix`` abandoned runs are marked failed.

    Raises UnreachableError when the database cannot be opened.
    """
    report = IntegrityReport()
    # A raw engine: the store's own would create missing tables and hide an old schema.
    raw = create_engine(store.url)
    try:
        usable = _sqlite_ok(raw, report) and _schema_ok(raw, report)
    except SQLAlchemyError as exc:
        report.problems.append(f"cannot read the database: {str(exc).splitlines()[0]}")
        usable = False
    finally:
        raw.dispose()
    if not usable:
        return report  # nothing else can be trusted on a damaged file or schema
    _deployments(settings, store, report)
    _drill_history(store, report)
    _abandoned_runs(store, report, fix=fix)
    _outboxes(settings, store, report)
    return report


def _sqlite_ok(engine: Engine, report: IntegrityReport) -> bool:
    report.checked.append("sqlite integrity_check")
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as conn:
        result = [r[0] for r in conn.execute(text("PRAGMA integrity_check")).all()]
    if result != ["ok"]:
        report.problems.append(f"SQLite integrity_check: {'; '.join(result[:3])}")
        return False
    return True


def _schema_ok(engine: Engine, report: IntegrityReport) -> bool:
    """Every table and column of store/schema.py must exist (the schema version streamdr runs)."""
    report.checked.append("schema")
    found = inspect(engine)
    tables = set(found.get_table_names())
    missing = []
    for table in metadata.sorted_tables:
        if table.name not in tables:
            missing.append(table.name)
            continue
        columns = {c["name"] for c in found.get_columns(table.name)}
        missing += [f"{table.name}.{c.name}" for c in table.columns if c.name not in columns]
    if missing:
        report.problems.append(f"schema is missing {', '.join(missing[:8])}")
    return not missing


def _deployments(settings: Settings, store: MetadataStore, report: IntegrityReport) -> None:
    report.checked.append("deployments chain")
    history = list(reversed(deployment_history(store, limit=100_000)))
    for before, after in pairwise(history):
        if after.previous_commit and after.previous_commit != before.commit:
            report.problems.append(
                f"deployment {after.id} follows {after.previous_commit[:12]} but deployment "
                f"{before.id} deployed {before.commit[:12]}"
            )
        if as_utc(after.deployed_at) < as_utc(before.deployed_at):
            report.problems.append(f"deployment {after.id} is dated before deployment {before.id}")
    if not history or settings.config_repo is None:
        return
    try:
        repo = open_repo(settings)
        unknown = [d for d in history if not repo.has_commit(d.commit)]
    except StreamdrError as exc:
        report.warnings.append(f"config repository not checked: {exc.message}")
        return
    report.checked.append("deployments in the config repository")
    for d in unknown:
        report.problems.append(f"deployment {d.id} commit {d.commit[:12]} is not in the repo")


def _drill_history(store: MetadataStore, report: IntegrityReport) -> None:
    report.checked.append("drill history monotonic")
    query = select(drill_runs.c.id, drill_runs.c.started_at, drill_runs.c.finished_at)
    with store.begin() as conn:
        rows = conn.execute(query.order_by(drill_runs.c.id)).all()
    for row in rows:
        if as_utc(row.finished_at) < as_utc(row.started_at):
            report.problems.append(f"drill run {row.id} finished before it started")
    for before, after in pairwise(rows):
        if as_utc(after.started_at) < as_utc(before.started_at):
            report.problems.append(f"drill run {after.id} started before drill run {before.id}")


def _abandoned_runs(store: MetadataStore, report: IntegrityReport, *, fix: bool) -> None:
    report.checked.append("no job run left running")
    with store.begin() as conn:
        query = select(job_runs.c.id).where(job_runs.c.status == "running")
        running = [r.id for r in conn.execute(query)]
        if running and fix:
            conn.execute(
                job_runs.update()
                .where(job_runs.c.id.in_(running))
                .values(status="failed", finished_at=utcnow(), error=RESTORED_RUNNING)
            )
    if running and fix:
        report.fixed.append(f"job runs {running} were running: marked failed ({RESTORED_RUNNING})")
    elif running:
        report.warnings.append(f"job runs {running} are still marked running")


def _outboxes(settings: Settings, store: MetadataStore, report: IntegrityReport) -> None:
    try:
        workflows = [w for w in deployed_workflows(settings, store) if w.outbox is not None]
    except StreamdrError as exc:
        report.problems.append(f"deployed workflows do not load: {exc.message}")
        return
    for workflow in workflows:
        report.checked.append(f"outbox of {workflow.name}")
        try:
            stale = stale_outbox_count(settings, workflow)
        except StreamdrError as exc:
            report.warnings.append(f"outbox of {workflow.name} not checked: {exc.message}")
            continue
        if stale:
            report.problems.append(
                f"workflow {workflow.name}: {stale} outbox events PENDING too long "
                "(incomplete transaction recovery?)"
            )


def _outbox_engine(settings: Settings, workflow: Workflow) -> Engine:
    """Return an engine on the source database of ``workflow``; raises StateError, InputError."""
    source = settings.sources.get(workflow.source.database or "")
    if source is None:
        raise StateError(
            f"workflow {workflow.name} declares an outbox but no source database",
            hint="Set source.database to a source of streamdr.yaml `sources`.",
        )
    if source.kind == "sqlite":
        path = Path(source.path or "")
        full = path if path.is_absolute() else settings.base_dir() / path
        return create_engine(f"sqlite:///{full}")
    connect: dict[str, Any] = {"conninfo": source.dsn or "", "connect_timeout": 5}
    if source.password_env:
        if source.password_env not in os.environ:
            raise InputError(
                f"environment variable {source.password_env} is not set",
                hint=f"Export {source.password_env}; passwords never live in files.",
            )
        connect["password"] = os.environ[source.password_env]
    return create_engine("postgresql+psycopg://", connect_args=connect)


def stale_outbox_count(settings: Settings, workflow: Workflow) -> int:
    """Return the strategy's count of outbox events PENDING for longer than allowed.

    Raises UnreachableError when the source database cannot be queried.
    """
    outbox = workflow.outbox
    if outbox is None:
        return 0
    engine = _outbox_engine(settings, workflow)
    cutoff = utcnow() - timedelta(seconds=outbox.stale_after_seconds)
    try:
        with engine.connect() as conn:
            query = text(STALE_OUTBOX_SQL.format(table=outbox.table))
            return int(conn.execute(query, {"cutoff": cutoff}).scalar() or 0)
    except SQLAlchemyError as exc:
        raise UnreachableError(
            f"outbox query on {workflow.source.database}: {str(exc).splitlines()[0]}",
            hint="Check the source database and the outbox table name.",
        ) from exc
    finally:
        engine.dispose()
