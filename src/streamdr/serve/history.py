"""Job runs and pauses in the metadata DB: the durable history `streamdr jobs` reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from streamdr.clock import iso, utcnow
from streamdr.store.db import MetadataStore
from streamdr.store.schema import job_runs, job_state

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
MAX_ERROR = 2000


def start_run(
    store: MetadataStore, job: str, kind: str, trigger: str, owner: str
) -> tuple[int, datetime]:
    """Record a run as ``running`` and return its id and start time."""
    started = utcnow()
    with store.begin() as conn:
        result = conn.execute(
            insert(job_runs).values(
                job=job,
                kind=kind,
                trigger=trigger,
                owner=owner,
                started_at=started,
                status=RUNNING,
                attempts=1,
            )
        )
        return int(result.inserted_primary_key[0]), started


def finish_run(
    store: MetadataStore,
    run_id: int,
    *,
    started_at: datetime,
    error: str | None,
    attempts: int,
    detail: dict[str, Any] | None,
) -> float:
    """Record the end of a run (failed when ``error``) and return its duration in seconds."""
    now = utcnow()
    duration = (now - started_at).total_seconds()
    with store.begin() as conn:
        conn.execute(
            update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(
                finished_at=now,
                status=FAILED if error else SUCCEEDED,
                duration_seconds=round(duration, 3),
                attempts=attempts,
                error=error[:MAX_ERROR] if error else None,
                detail=detail,
            )
        )
    return duration


def fail_abandoned(store: MetadataStore, live_owners: set[str], reason: str) -> list[int]:
    """Mark ``running`` runs whose owner is not in ``live_owners`` failed; return their ids."""
    with store.begin() as conn:
        rows = conn.execute(
            select(job_runs.c.id, job_runs.c.owner).where(job_runs.c.status == RUNNING)
        ).all()
        dead = [r.id for r in rows if r.owner not in live_owners]
        if dead:
            conn.execute(
                update(job_runs)
                .where(job_runs.c.id.in_(dead), job_runs.c.status == RUNNING)
                .values(finished_at=utcnow(), status=FAILED, error=reason)
            )
    return dead


def recent_runs(store: MetadataStore, job: str | None = None, limit: int = 50) -> list[dict]:
    """Return the newest runs (of ``job`` when given), newest first, as plain dicts."""
    query = select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    with store.begin() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            **{k: row[k] for k in ("id", "job", "kind", "trigger", "owner", "status", "attempts")},
            "started_at": iso(row["started_at"]),
            "finished_at": iso(row["finished_at"]),
            "duration_seconds": row["duration_seconds"],
            "error": row["error"],
            "detail": row["detail"],
        }
        for row in rows
    ]


def last_runs(store: MetadataStore) -> dict[str, dict[str, Any]]:
    """Return per job the newest run and the time of the newest success."""
    summary: dict[str, dict[str, Any]] = {}
    with store.begin() as conn:
        rows = conn.execute(select(job_runs).order_by(job_runs.c.id)).mappings().all()
    for row in rows:
        entry = summary.setdefault(row["job"], {"last_success": None})
        entry["last_status"] = row["status"]
        entry["last_started"] = iso(row["started_at"])
        if row["status"] == SUCCEEDED:
            entry["last_success"] = iso(row["finished_at"])
    return summary


def set_paused(store: MetadataStore, job: str, paused: bool, by: str) -> None:
    """Pause or resume ``job``: a paused job's scheduled runs are skipped."""
    with store.begin() as conn:
        changed = conn.execute(
            update(job_state)
            .where(job_state.c.job == job)
            .values(paused=paused, updated_at=utcnow(), updated_by=by)
        ).rowcount
        if not changed:
            conn.execute(
                insert(job_state).values(job=job, paused=paused, updated_at=utcnow(), updated_by=by)
            )


def paused_jobs(store: MetadataStore) -> set[str]:
    """Return the names of the paused jobs."""
    with store.begin() as conn:
        rows = conn.execute(select(job_state.c.job).where(job_state.c.paused.is_(True))).all()
    return {r.job for r in rows}
