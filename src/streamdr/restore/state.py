"""Restore runs in the metadata DB: the saved plan, base offsets, steps and the result.

A run stays ``running`` until it ends; a run whose process died stays ``running`` and is
resumed by rerunning the same command (matched on target site and topic, and the request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, insert, select, update

from streamdr.clock import utcnow
from streamdr.store.db import MetadataStore
from streamdr.store.schema import restore_runs

UNFINISHED = ("running", "interrupted")


@dataclass(frozen=True)
class RestoreRun:
    """One stored restore run."""

    id: int
    status: str
    request: dict[str, Any]
    plan: dict[str, Any]
    base_offsets: dict[int, int]
    steps: list[dict[str, Any]]
    result: dict[str, Any] | None


def _row(r: Any) -> RestoreRun:
    return RestoreRun(
        r.id,
        r.status,
        r.request,
        r.plan,
        {int(k): int(v) for k, v in (r.base_offsets or {}).items()},
        list(r.steps or []),
        r.result,
    )


def find_unfinished(db: MetadataStore, to_site: str, to_topic: str) -> RestoreRun | None:
    """Return the newest unfinished restore into ``to_topic`` on ``to_site``, if any."""
    query = (
        select(restore_runs)
        .where(
            restore_runs.c.to_site == to_site,
            restore_runs.c.to_topic == to_topic,
            restore_runs.c.status.in_(UNFINISHED),
        )
        .order_by(desc(restore_runs.c.id))
        .limit(1)
    )
    with db.begin() as conn:
        row = conn.execute(query).first()
    return _row(row) if row else None


def create_run(
    db: MetadataStore, request: dict[str, Any], plan: dict[str, Any], base: dict[int, int]
) -> int:
    """Store a new running restore and return its id."""
    with db.begin() as conn:
        row = conn.execute(
            insert(restore_runs).values(
                to_site=request["to_site"],
                to_topic=request["to_topic"],
                status="running",
                started_at=utcnow(),
                request=request,
                plan=plan,
                base_offsets={str(k): v for k, v in base.items()},
                steps=[],
            )
        )
        return int(row.inserted_primary_key[0])


def update_run(db: MetadataStore, run_id: int, **values: Any) -> None:
    """Update columns of a restore run (``status``, ``steps``, ``result``, ``finished_at``)."""
    with db.begin() as conn:
        conn.execute(update(restore_runs).where(restore_runs.c.id == run_id).values(**values))


def finish_run(db: MetadataStore, run_id: int, status: str, result: dict[str, Any]) -> None:
    """Mark a restore run finished with ``status`` and its result."""
    update_run(db, run_id, status=status, result=result, finished_at=utcnow())


def get_run(db: MetadataStore, run_id: int) -> RestoreRun | None:
    """Return one restore run by id."""
    with db.begin() as conn:
        row = conn.execute(select(restore_runs).where(restore_runs.c.id == run_id)).first()
    return _row(row) if row else None
