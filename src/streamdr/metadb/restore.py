"""Point-in-time restore of the SQLite metadata DB from a Litestream replica.

Plan, then execute: :func:`plan_metadb_restore` is pure and printable; :func:`execute_restore`
restores into a staging file next to the target, validates it (and marks runs left ``running``
failed), and only then renames it into place. The file it replaces is kept beside it under
``<target>.replaced-<time>``, never deleted, so a restore is never half-written and never loses
the only copy.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from streamdr.clock import as_utc, iso, utcnow
from streamdr.errors import StateError
from streamdr.fsutil import ensure_dir
from streamdr.metadb.integrity import IntegrityReport, validate_metadata_db
from streamdr.metadb.litestream import ReplicaRuntime, parse_json_lines, run_litestream
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import serve_leases

SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True)
class MetadbRestorePlan:
    """What a restore will do: from which replica, to which time, into which file."""

    db: Path
    replica: str
    replica_shown: str
    to_time: datetime | None
    target: Path
    staging: Path
    set_aside: Path | None

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as a JSON-ready mapping."""
        return {
            "db": str(self.db),
            "replica": self.replica,
            "replica_location": self.replica_shown,
            "to_time": iso(self.to_time) if self.to_time else "latest",
            "target": str(self.target),
            "staging": str(self.staging),
            "set_aside": str(self.set_aside) if self.set_aside else None,
        }


def plan_metadb_restore(
    db: Path,
    runtime: ReplicaRuntime,
    to_time: datetime | None,
    target: Path | None,
    now: datetime,
    *,
    target_exists: bool,
) -> MetadbRestorePlan:
    """Return the plan of restoring ``db`` from ``runtime``'s replica into ``target`` (or db)."""
    final = target or db
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return MetadbRestorePlan(
        db=db,
        replica=runtime.place.name,
        replica_shown=runtime.place.shown,
        to_time=as_utc(to_time) if to_time else None,
        target=final,
        staging=final.with_name(f"{final.name}.restoring"),
        set_aside=final.with_name(f"{final.name}.replaced-{stamp}") if target_exists else None,
    )


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore: the plan, the validation and how long it took."""

    plan: MetadbRestorePlan
    integrity: IntegrityReport
    seconds: float
    litestream: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "plan": self.plan.as_dict(),
            "integrity": self.integrity.as_dict(),
            "seconds": round(self.seconds, 3),
            "litestream": self.litestream,
        }


def restore_args(plan: MetadbRestorePlan, out: Path, *, dry_run: bool) -> list[str]:
    """Return the ``litestream restore`` arguments of ``plan`` writing to ``out``."""
    args = ["restore", "-json", "-o", str(out)]
    if plan.to_time is not None:
        args += ["-timestamp", plan.to_time.strftime("%Y-%m-%dT%H:%M:%SZ")]
    if dry_run:
        args.append("-dry-run")
    return [*args, str(plan.db)]


def execute_restore(
    settings: Settings, plan: MetadbRestorePlan, runtime: ReplicaRuntime, *, force: bool = False
) -> RestoreResult:
    """Restore, validate, then rename into place; return the result.

    Raises StateError when a serve still leads on the target (unless ``force``) or Litestream
    finds nothing to restore, FailedCheckError when the restored file fails validation (the
    target is then untouched).
    """
    started = time.monotonic()
    if plan.set_aside is not None and not force:
        _refuse_live_serve(plan.target)
    ensure_dir(plan.staging.parent)
    _remove_with_side_files(plan.staging)
    output = run_litestream(runtime, restore_args(plan, plan.staging, dry_run=False))
    try:
        integrity = _validate(settings, plan.staging)
        integrity.raise_for_problems(f"the restore into {plan.staging}")
    except BaseException:
        _remove_with_side_files(plan.staging)
        raise
    _swap_into_place(plan)
    return RestoreResult(plan, integrity, time.monotonic() - started, _last_json(output))


def _validate(settings: Settings, path: Path) -> IntegrityReport:
    store = MetadataStore(f"sqlite:///{path}")
    try:
        return validate_metadata_db(settings, store, fix=True)
    finally:
        if store._engine is not None:
            store._engine.dispose()
        _checkpoint(path)


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the file so the single file renamed into place is complete."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _refuse_live_serve(target: Path) -> None:
    """Raise StateError when a serve holds a live lease in ``target`` (it would keep writing)."""
    store = MetadataStore(f"sqlite:///{target}")
    try:
        with store.begin() as conn:
            rows = conn.execute(select(serve_leases)).all()
    finally:
        if store._engine is not None:
            store._engine.dispose()
    now = utcnow()
    live = [r.owner for r in rows if as_utc(r.expires_at) > now]
    if live:
        raise StateError(
            f"serve {live[0]} still holds a lease in {target}",
            hint="Stop every `streamdr serve` first (or pass --force if it is surely dead).",
        )


def _swap_into_place(plan: MetadbRestorePlan) -> None:
    """Set the current target aside (with its WAL) and rename the staging file into place."""
    if plan.set_aside is not None and plan.target.exists():
        for suffix in ("", *SIDE_FILES):
            old = Path(f"{plan.target}{suffix}")
            if old.exists():
                os.replace(old, Path(f"{plan.set_aside}{suffix}"))
    for suffix in SIDE_FILES:
        Path(f"{plan.staging}{suffix}").unlink(missing_ok=True)
        Path(f"{plan.target}{suffix}").unlink(missing_ok=True)  # of an empty target, if any
    os.replace(plan.staging, plan.target)
    _fsync_dir(plan.target.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _last_json(output: str) -> dict[str, Any]:
    docs = parse_json_lines(output)
    return docs[-1] if docs else {}
