"""Config operations in the metadata DB, each with its steps and their timestamps."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import desc, insert, select

from streamdr.clock import as_utc, utcnow
from streamdr.steps import Step, record_step
from streamdr.store.db import MetadataStore
from streamdr.store.schema import config_events


@dataclass
class OperationLog:
    """The steps of one config operation (deploy, rollback, recover, backup, …)."""

    kind: str
    actor: str
    started_at: datetime = field(default_factory=utcnow)
    steps: list[Step] = field(default_factory=list)

    def step(self, name: str) -> AbstractContextManager[Step]:
        """Record a step around a block; an exception marks it failed and propagates."""
        return record_step(self.steps, name)

    def save(
        self, store: MetadataStore, *, ok: bool, commit: str | None = None, **detail: Any
    ) -> int:
        """Store the operation with its steps and return its id."""
        with store.begin() as conn:
            row = conn.execute(
                insert(config_events).values(
                    kind=self.kind,
                    started_at=self.started_at,
                    finished_at=utcnow(),
                    actor=self.actor,
                    commit_sha=commit,
                    ok=ok,
                    detail={**detail, "steps": [s.as_dict() for s in self.steps]},
                )
            )
            return int(row.inserted_primary_key[0])


def list_events(
    store: MetadataStore, kind: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Return the newest recorded operations, newest first."""
    query = select(config_events).order_by(desc(config_events.c.id)).limit(limit)
    if kind:
        query = query.where(config_events.c.kind == kind)
    with store.begin() as conn:
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "started_at": as_utc(r.started_at).isoformat(),
                "finished_at": as_utc(r.finished_at).isoformat(),
                "actor": r.actor,
                "commit": r.commit_sha,
                "ok": r.ok,
                **(r.detail or {}),
            }
            for r in conn.execute(query)
        ]
