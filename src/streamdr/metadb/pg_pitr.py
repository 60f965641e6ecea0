"""Backups, status, verification and point-in-time restore of a PostgreSQL metadata DB.

A restore is planned (pure, printable) and then executed: stop the cluster on the target data
directory, set that directory aside (never deleted), ``pgbackrest restore`` into an empty one
(``--type=time --target=T --target-action=promote``, or to the end of the archived WAL), start
the cluster, wait until it is promoted, and validate it as any metadata DB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from streamdr.clock import as_utc, iso, utcnow
from streamdr.errors import StateError, StreamdrError
from streamdr.fsutil import ensure_dir
from streamdr.metadb.integrity import IntegrityReport, validate_metadata_db
from streamdr.metadb.pg_cluster import start_cluster, stop_cluster, wait_promoted
from streamdr.metadb.pgbackrest import PgBackRest, give_to_user, info, run_pgbackrest
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import serve_leases

BACKUP_TYPES = ("full", "diff", "incr")


def setup_stanza(rt: PgBackRest) -> dict[str, Any]:
    """Create the stanza (idempotent) and check the cluster archives into it; return a report.

    Raises StateError or UnreachableError from pgBackRest (archive_command not set, …).
    """
    run_pgbackrest(rt, ["stanza-create"], timeout=300)
    run_pgbackrest(rt, ["check"], timeout=300)
    return {"stanza": rt.cfg.stanza, "repository": rt.repo.shown, "check": "passed"}


def run_backup(rt: PgBackRest, kind: str = "full") -> dict[str, Any]:
    """Take one backup (``full``, ``diff`` or ``incr``); return the newest backup's summary.

    Raises StateError or UnreachableError from pgBackRest.
    """
    if kind not in BACKUP_TYPES:
        raise StateError(f"backup type {kind!r} is unknown", hint=f"Use one of {BACKUP_TYPES}.")
    started = time.monotonic()
    run_pgbackrest(rt, ["backup", f"--type={kind}"])
    summary = _last_backup(info(rt))
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def _last_backup(doc: dict[str, Any]) -> dict[str, Any]:
    backups = doc.get("backup") or []
    if not backups:
        return {"label": None}
    last = backups[-1]
    stamps = last.get("timestamp") or {}
    archive = last.get("archive") or {}
    return {
        "label": last.get("label"),
        "type": last.get("type"),
        "started_at": _epoch_iso(stamps.get("start")),
        "finished_at": _epoch_iso(stamps.get("stop")),
        "wal_start": archive.get("start"),
        "wal_stop": archive.get("stop"),
    }


def _epoch_iso(value: Any) -> str | None:
    return iso(datetime.fromtimestamp(int(value), UTC)) if isinstance(value, int) else None


def backup_status(rt: PgBackRest, url: str, now: datetime) -> dict[str, Any]:
    """Return the newest backup, its age, and how far WAL is archived (from the cluster).

    Errors are reported in the mapping (``error``), not raised: status must show what it can.
    """
    doc: dict[str, Any] = {"stanza": rt.cfg.stanza, "repository": rt.repo.shown}
    try:
        stanza = info(rt)
    except StreamdrError as exc:
        return {**doc, "error": exc.message}
    doc["status"] = (stanza.get("status") or {}).get("message")
    doc["backups"] = len(stanza.get("backup") or [])
    doc["last_backup"] = _last_backup(stanza)
    finished = doc["last_backup"].get("finished_at")
    if finished:
        age = now - datetime.fromisoformat(finished)
        doc["last_backup_age_seconds"] = round(age.total_seconds(), 1)
    archives = stanza.get("archive") or []
    doc["wal_archived_max"] = archives[-1].get("max") if archives else None
    doc.update(_archiver(url, now))
    return doc


def _archiver(url: str, now: datetime) -> dict[str, Any]:
    """Return what the cluster says of its archiving (last archived WAL and when, failures)."""
    query = text(
        "SELECT last_archived_wal, last_archived_time, failed_count, last_failed_wal "
        "FROM pg_stat_archiver"
    )
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            row = conn.execute(query).one()
    except SQLAlchemyError as exc:
        return {"archiver_error": str(exc).splitlines()[0]}
    finally:
        engine.dispose()
    at = as_utc(row.last_archived_time) if row.last_archived_time else None
    return {
        "wal_archived_up_to": row.last_archived_wal,
        "wal_archived_at": iso(at),
        "wal_archive_age_seconds": round((now - at).total_seconds(), 1) if at else None,
        "archive_failures": row.failed_count,
        "last_failed_wal": row.last_failed_wal,
    }


def verify_backups(rt: PgBackRest) -> dict[str, Any]:
    """Run ``check`` (the cluster archives) and ``verify`` (repository checksums); return both.

    ``passed`` is False when either fails; nothing is raised for a failed check.
    """
    doc: dict[str, Any] = {"stanza": rt.cfg.stanza, "repository": rt.repo.shown, "problems": []}
    for command in ("check", "verify"):
        try:
            run_pgbackrest(rt, [command], timeout=600)
        except StreamdrError as exc:
            doc["problems"].append(f"{command}: {exc.message}")
    doc["passed"] = not doc["problems"]
    return doc


@dataclass(frozen=True)
class PgRestorePlan:
    """What a PostgreSQL metadata DB restore will do (pure data, printable)."""

    stanza: str
    repository: str
    target: Path
    to_time: datetime | None
    set_aside: Path | None
    restore_args: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as a JSON-ready mapping, with its steps in order."""
        steps = [f"stop the cluster on {self.target} (if it runs)"]
        if self.set_aside:
            steps.append(f"move {self.target} aside to {self.set_aside} (kept)")
        steps += [
            f"pgbackrest {' '.join(self.restore_args)}",
            "start the cluster and wait until it is promoted",
            "validate the metadata DB (runs left running are marked failed)",
        ]
        return {
            "stanza": self.stanza,
            "repository": self.repository,
            "target": str(self.target),
            "to_time": iso(self.to_time) if self.to_time else "latest archived WAL",
            "set_aside": str(self.set_aside) if self.set_aside else None,
            "steps": steps,
        }


def recovery_target(when: datetime) -> str:
    """Return ``when`` as PostgreSQL's recovery_target_time (UTC, microseconds)."""
    return as_utc(when).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def plan_pg_restore(
    rt: PgBackRest, when: datetime | None, target: Path, now: datetime, *, target_has_data: bool
) -> PgRestorePlan:
    """Return the restore plan of ``target`` to ``when`` (None: the newest archived WAL)."""
    args = ["restore", f"--pg1-path={target}"]
    if when is None:
        args.append("--type=default")
    else:
        args += ["--type=time", f"--target={recovery_target(when)}", "--target-action=promote"]
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    aside = target.with_name(f"{target.name}.replaced-{stamp}") if target_has_data else None
    return PgRestorePlan(rt.cfg.stanza, rt.repo.shown, target, when, aside, tuple(args))


@dataclass(frozen=True)
class PgRestoreResult:
    """The executed restore: its plan, timings and the validation of the restored DB."""

    plan: PgRestorePlan
    seconds: float
    recovery_seconds: float
    integrity: IntegrityReport

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "plan": self.plan.as_dict(),
            "seconds": round(self.seconds, 2),
            "recovery_seconds": round(self.recovery_seconds, 2),
            "integrity": self.integrity.as_dict(),
        }


def execute_pg_restore(
    settings: Settings, rt: PgBackRest, plan: PgRestorePlan, url: str, *, force: bool
) -> PgRestoreResult:
    """Execute ``plan``: stop, set aside, restore, start, wait for promotion, validate.

    Raises StateError (a live serve lease, pgBackRest refused, recovery failed),
    UnreachableError, or FailedCheckError when the restored DB fails validation (the previous
    data directory is kept aside).
    """
    started = time.monotonic()
    if not force:
        _refuse_live_serve(url)
    stop_cluster(rt.cfg, rt.run_as, plan.target)
    if plan.set_aside is not None and plan.target.exists():
        plan.target.rename(plan.set_aside)
    ensure_dir(plan.target)
    give_to_user(rt.run_as, plan.target)
    run_pgbackrest(rt, list(plan.restore_args))
    start_cluster(rt, plan.target, rt.state / "log" / "postgresql-restore.log")
    recovery = wait_promoted(url, rt.cfg, rt.run_as, plan.target)
    store = MetadataStore(url)
    try:
        report = validate_metadata_db(settings, store, fix=True)
    finally:
        store.engine.dispose()
    report.raise_for_problems(f"the metadata DB restored into {plan.target}")
    return PgRestoreResult(plan, time.monotonic() - started, recovery, report)


def _refuse_live_serve(url: str) -> None:
    """Raise StateError when a serve holds a live lease (it would write into the restored DB)."""
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(serve_leases)).all()
    except SQLAlchemyError:
        return  # the database is gone or has no lease table: no serve can be writing to it
    finally:
        engine.dispose()
    now = utcnow()
    live = [r.owner for r in rows if as_utc(r.expires_at) > now]
    if live:
        raise StateError(
            f"serve {live[0]} still holds a lease in the metadata DB",
            hint="Stop every `streamdr serve` first (or pass --force if it is surely dead).",
        )
