"""Drill reports in the metadata DB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, insert, select

from streamdr.drills.report import DrillReport
from streamdr.store.db import MetadataStore
from streamdr.store.schema import drill_runs


def save_report(store: MetadataStore, report: DrillReport) -> int:
    """Store ``report`` and return its id."""
    with store.begin() as conn:
        row = conn.execute(
            insert(drill_runs).values(
                scenario=report.scenario,
                site=report.site,
                started_at=report.started_at,
                finished_at=report.finished_at or report.started_at,
                passed=report.passed,
                rto_seconds=report.rto_seconds,
                rpo_seconds=report.rpo_seconds,
                report=report.as_dict(),
            )
        )
        return int(row.inserted_primary_key[0])


def list_reports(
    store: MetadataStore, scenario: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Return the newest stored reports (full report documents with their ``id``)."""
    query = select(drill_runs).order_by(desc(drill_runs.c.started_at)).limit(limit)
    if scenario:
        query = query.where(drill_runs.c.scenario == scenario)
    with store.begin() as conn:
        return [{"id": r.id, **r.report} for r in conn.execute(query)]


def last_passed(store: MetadataStore, scenario: str) -> datetime | None:
    """Return when ``scenario`` last passed, or None."""
    query = (
        select(drill_runs.c.finished_at)
        .where(drill_runs.c.scenario == scenario, drill_runs.c.passed.is_(True))
        .order_by(desc(drill_runs.c.finished_at))
        .limit(1)
    )
    with store.begin() as conn:
        ts = conn.execute(query).scalar()
    if ts is not None and ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)  # SQLite drops the zone; we always store UTC.
    return ts
