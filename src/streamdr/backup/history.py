"""Backup runs and the writer lease in the metadata DB."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, desc, insert, select, update
from sqlalchemy.exc import IntegrityError

from streamdr.clock import utcnow
from streamdr.errors import StateError
from streamdr.store.db import MetadataStore
from streamdr.store.schema import backup_leases, backup_runs

LEASE_TTL = timedelta(minutes=2)


def owner_id() -> str:
    """Return an id of this process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(owner: str) -> bool:
    """Return True when ``owner`` is a process on this host that no longer runs (it crashed)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """The right to write one backup (store + prefix); renew it while the run lives."""

    def __init__(
        self,
        db: MetadataStore,
        name: str,
        owner: str | None = None,
        ttl: timedelta = LEASE_TTL,
    ) -> None:
        self.db = db
        self.name = name
        self.owner = owner or owner_id()
        self.ttl = ttl

    def acquire(self, now: datetime | None = None) -> None:
        """Take the lease; raises StateError when another live run holds it."""
        now = now or utcnow()
        with self.db.begin() as conn:
            row = conn.execute(
                select(backup_leases).where(backup_leases.c.name == self.name)
            ).first()
            if row is not None:
                expires = (
                    row.expires_at
                    if row.expires_at.tzinfo
                    else row.expires_at.replace(tzinfo=now.tzinfo)
                )
                if row.owner != self.owner and expires > now and not _dead_here(row.owner):
                    raise StateError(
                        f"another backup run ({row.owner}) is writing {self.name}",
                        hint="Wait for it to finish; the lease of a run that crashed on another "
                        f"host expires within {int(self.ttl.total_seconds())}s.",
                    )
                conn.execute(delete(backup_leases).where(backup_leases.c.name == self.name))
            try:
                conn.execute(
                    insert(backup_leases).values(
                        name=self.name, owner=self.owner, expires_at=now + self.ttl
                    )
                )
            except IntegrityError as exc:
                raise StateError(f"another backup run took {self.name} just now") from exc

    def renew(self, now: datetime | None = None) -> bool:
        """Extend the lease; return False when this owner no longer holds it (taken over)."""
        now = now or utcnow()
        with self.db.begin() as conn:
            result = conn.execute(
                update(backup_leases)
                .where(backup_leases.c.name == self.name, backup_leases.c.owner == self.owner)
                .values(expires_at=now + self.ttl)
            )
        return bool(result.rowcount)

    def held(self, now: datetime | None = None, margin: timedelta = timedelta(0)) -> bool:
        """Return True when this owner holds the lease for at least ``margin`` more.

        This is the fence a writer checks before each catalog write: a process whose lease
        expired (it stalled) or was taken over must not write.
        """
        now = now or utcnow()
        with self.db.begin() as conn:
            row = conn.execute(
                select(backup_leases).where(backup_leases.c.name == self.name)
            ).first()
        if row is None or row.owner != self.owner:
            return False
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        return expires > now + margin

    def release(self) -> None:
        """Give the lease up."""
        with self.db.begin() as conn:
            conn.execute(
                delete(backup_leases).where(
                    backup_leases.c.name == self.name, backup_leases.c.owner == self.owner
                )
            )


def start_run(db: MetadataStore, site: str, target: str, prefix: str) -> int:
    """Record a backup run as running and return its id."""
    with db.begin() as conn:
        row = conn.execute(
            insert(backup_runs).values(
                site=site, target=target, prefix=prefix, started_at=utcnow(), status="running"
            )
        )
        return int(row.inserted_primary_key[0])


def finish_run(db: MetadataStore, run_id: int, status: str, summary: dict[str, Any]) -> None:
    """Record the end of a backup run."""
    with db.begin() as conn:
        conn.execute(
            update(backup_runs)
            .where(backup_runs.c.id == run_id)
            .values(finished_at=utcnow(), status=status, summary=summary)
        )


def recent_runs(db: MetadataStore, limit: int = 20) -> list[dict[str, Any]]:
    """Return the newest backup runs."""
    with db.begin() as conn:
        rows = conn.execute(select(backup_runs).order_by(desc(backup_runs.c.id)).limit(limit))
        return [dict(r._mapping) for r in rows]
