"""Failover/failback runs and their steps in the metadata DB (every step with timestamps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, select

from streamdr.clock import iso, utcnow
from streamdr.errors import InputError
from streamdr.steps import Step
from streamdr.store.db import MetadataStore
from streamdr.store.schema import failover_runs, failover_steps

RUNNING, SUCCEEDED, FAILED, ABANDONED = "running", "succeeded", "failed", "abandoned"
DONE = "done"


@dataclass
class StepRecord(Step):
    """One executed step of a run, as stored (``id`` is its row, ``seq`` its place in the plan)."""

    id: int = 0
    seq: int = 0

    @property
    def status(self) -> str:
        """Return running, done or failed."""
        if self.finished_at is None:
            return RUNNING
        return DONE if self.ok else FAILED

    def as_dict(self) -> dict[str, Any]:
        """Return the step as JSON-ready data."""
        return {
            "seq": self.seq,
            "name": self.name,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "seconds": self.seconds,
            "status": self.status,
            "detail": self.detail,
        }


def create_run(store: MetadataStore, plan: dict[str, Any]) -> int:
    """Insert a running run for ``plan``; return its id."""
    with store.begin() as conn:
        result = conn.execute(
            failover_runs.insert().values(
                kind=plan["kind"],
                scope=plan["scope"],
                from_site=plan["from"],
                to_site=plan["to"],
                planned=plan["planned"],
                started_at=utcnow(),
                status=RUNNING,
                plan=plan,
            )
        )
        return int(result.inserted_primary_key[0])


def start_step(store: MetadataStore, run_id: int, seq: int, name: str) -> StepRecord:
    """Record that a step started; return its record."""
    now = utcnow()
    with store.begin() as conn:
        result = conn.execute(
            failover_steps.insert().values(
                run_id=run_id, seq=seq, name=name, started_at=now, status=RUNNING, detail=""
            )
        )
    return StepRecord(name, now, id=int(result.inserted_primary_key[0]), seq=seq)


def finish_step(store: MetadataStore, step: StepRecord) -> None:
    """Store a finished step's outcome (its status, end time and detail)."""
    with store.begin() as conn:
        conn.execute(
            failover_steps.update()
            .where(failover_steps.c.id == step.id)
            .values(finished_at=step.finished_at, status=step.status, detail=step.detail)
        )


def finish_run(store: MetadataStore, run_id: int, status: str, result: dict[str, Any]) -> None:
    """Record a run's outcome and result document."""
    with store.begin() as conn:
        conn.execute(
            failover_runs.update()
            .where(failover_runs.c.id == run_id)
            .values(finished_at=utcnow(), status=status, result=result)
        )


def load_run(store: MetadataStore, run_id: int) -> tuple[dict[str, Any], list[StepRecord]]:
    """Return (run row as a mapping, its steps); raises InputError for an unknown id."""
    with store.begin() as conn:
        row = conn.execute(select(failover_runs).where(failover_runs.c.id == run_id)).first()
        if row is None:
            raise InputError(
                f"no failover run {run_id}", hint="`streamdr failover --history` lists runs."
            )
        steps = conn.execute(
            select(failover_steps)
            .where(failover_steps.c.run_id == run_id)
            .order_by(failover_steps.c.seq, failover_steps.c.id)
        ).all()
    records = [
        StepRecord(
            s.name,
            s.started_at,
            None if s.status == RUNNING else s.finished_at,
            s.status != FAILED,
            s.detail,
            id=s.id,
            seq=s.seq,
        )
        for s in steps
    ]
    return dict(row._mapping), records


def unfinished_run(store: MetadataStore, scope: str) -> dict[str, Any] | None:
    """Return the newest run of ``scope`` if it is running or failed (not yet resolved)."""
    with store.begin() as conn:
        row = conn.execute(
            select(failover_runs)
            .where(failover_runs.c.scope == scope)
            .order_by(desc(failover_runs.c.id))
            .limit(1)
        ).first()
    if row is None or row.status not in (RUNNING, FAILED):
        return None
    return dict(row._mapping)


def set_run_status(store: MetadataStore, run_id: int, status: str) -> None:
    """Change a run's status (resume → running, abandon → abandoned)."""
    with store.begin() as conn:
        conn.execute(
            failover_runs.update().where(failover_runs.c.id == run_id).values(status=status)
        )


def list_runs(store: MetadataStore, scope: str | None, limit: int = 20) -> list[dict[str, Any]]:
    """Return recent runs, newest first."""
    query = select(failover_runs).order_by(desc(failover_runs.c.id)).limit(limit)
    if scope:
        query = query.where(failover_runs.c.scope == scope)
    with store.begin() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "scope": r.scope,
            "from": r.from_site,
            "to": r.to_site,
            "planned": r.planned,
            "status": r.status,
            "started_at": iso(r.started_at),
            "finished_at": iso(r.finished_at),
            "passed": (r.result or {}).get("passed"),
            "rto_seconds": (r.result or {}).get("rto_seconds"),
        }
        for r in rows
    ]
