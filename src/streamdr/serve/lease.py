"""Named leases in the metadata DB: at most one live holder per name, taken over on expiry.

Every change is one conditional statement (``UPDATE … WHERE owner = me OR expired``, else
``INSERT``), never read-then-write, so two processes racing on SQLite or PostgreSQL cannot both
win: the database decides.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from streamdr.clock import as_utc, utcnow
from streamdr.store.db import MetadataStore
from streamdr.store.schema import serve_leases


def default_owner() -> str:
    """Return an owner id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease and until when."""

    name: str
    owner: str
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        """Return True while the lease has not expired at ``now``."""
        return as_utc(self.expires_at) > now


class Lease:
    """One named lease held (or wanted) by ``owner`` for ``ttl`` at a time."""

    def __init__(self, store: MetadataStore, name: str, owner: str, ttl: timedelta) -> None:
        self.store = store
        self.name = name
        self.owner = owner
        self.ttl = ttl

    def try_acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease if it is free, expired or ours; return whether we hold it.

        Raises UnreachableError when the metadata DB cannot be reached (or is locked too long).
        """
        now = now or utcnow()
        table = serve_leases.c
        with self.store.begin() as conn:
            taken = conn.execute(
                update(serve_leases)
                .where(table.name == self.name)
                .where((table.owner == self.owner) | (table.expires_at < now))
                .values(owner=self.owner, acquired_at=now, expires_at=now + self.ttl)
            ).rowcount
        if taken:
            return True
        try:
            with self.store.begin() as conn:
                conn.execute(
                    insert(serve_leases).values(
                        name=self.name, owner=self.owner, acquired_at=now, expires_at=now + self.ttl
                    )
                )
        except IntegrityError:
            return False  # a live holder exists
        return True

    def renew(self, now: datetime | None = None) -> bool:
        """Extend the lease if we still hold it; return False when it was lost.

        Raises UnreachableError when the metadata DB cannot be reached.
        """
        now = now or utcnow()
        with self.store.begin() as conn:
            return bool(
                conn.execute(
                    update(serve_leases)
                    .where(serve_leases.c.name == self.name, serve_leases.c.owner == self.owner)
                    .values(expires_at=now + self.ttl)
                ).rowcount
            )

    def release(self) -> None:
        """Give the lease up if we hold it (others may take it at once)."""
        with self.store.begin() as conn:
            conn.execute(
                delete(serve_leases).where(
                    serve_leases.c.name == self.name, serve_leases.c.owner == self.owner
                )
            )


def holders(store: MetadataStore, prefix: str = "") -> list[LeaseHolder]:
    """Return every lease whose name starts with ``prefix``, live or not."""
    with store.begin() as conn:
        rows = conn.execute(
            select(serve_leases).where(serve_leases.c.name.startswith(prefix, autoescape=True))
        ).all()
    return [LeaseHolder(r.name, r.owner, as_utc(r.expires_at)) for r in rows]
