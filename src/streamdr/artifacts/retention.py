"""Artifact retention (the strategy's "Binary Versioning"), planned purely from a fixed clock.

- Versions referenced by any deployment (or by the config repository's HEAD) are kept forever.
- Other versions are "historical": they stay in the registry for ``historical`` after
  publication, then move to the archive store.
- Archived versions are deleted ``archived_years`` after publication (compliance window).

The plan is a list of actions; :mod:`streamdr.artifacts.archiving` executes it.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

Location = Literal["registry", "archive"]


class RetentionKind(StrEnum):
    """What happens to one stored copy of a version."""

    KEEP = "keep"
    ARCHIVE = "archive"
    DELETE = "delete"


@dataclass(frozen=True)
class RetentionPolicy:
    """How long unreferenced versions stay in the registry and in the archive."""

    historical: timedelta = timedelta(days=90)
    archived_years: int = 7


@dataclass(frozen=True)
class StoredVersion:
    """One copy of a version in the registry or the archive."""

    name: str
    version: str
    created_at: datetime
    location: Location

    @property
    def ref(self) -> str:
        """Return ``name@version``."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class RetentionAction:
    """The decision for one stored copy, with the reason and when the next step is due."""

    name: str
    version: str
    location: Location
    kind: RetentionKind
    reason: str
    next_due: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """Return the action as a JSON-ready mapping."""
        return {
            "artifact": f"{self.name}@{self.version}",
            "location": self.location,
            "action": str(self.kind),
            "reason": self.reason,
            "next_due": self.next_due.isoformat() if self.next_due else None,
        }


def add_years(ts: datetime, years: int) -> datetime:
    """Return ``ts`` moved ``years`` calendar years ahead (29 February → 28 February)."""
    year = ts.year + years
    day = min(ts.day, calendar.monthrange(year, ts.month)[1])
    return ts.replace(year=year, day=day)


def plan_retention(
    versions: Iterable[StoredVersion],
    referenced: Collection[tuple[str, str]],
    now: datetime,
    policy: RetentionPolicy,
) -> list[RetentionAction]:
    """Return one action per stored copy, sorted by artifact, version and location."""
    copies = sorted(versions, key=lambda v: (v.name, v.version, v.location != "registry"))
    archived = {(v.name, v.version) for v in copies if v.location == "archive"}
    return [
        _decide(v, (v.name, v.version) in referenced, (v.name, v.version) in archived, now, policy)
        for v in copies
    ]


def _decide(
    v: StoredVersion,
    referenced: bool,
    has_archive_copy: bool,
    now: datetime,
    policy: RetentionPolicy,
) -> RetentionAction:
    archive_at = v.created_at + policy.historical
    delete_at = add_years(v.created_at, policy.archived_years)
    if referenced:
        return RetentionAction(
            v.name, v.version, v.location, RetentionKind.KEEP, "referenced by a deployment"
        )
    if now >= delete_at:
        return RetentionAction(
            v.name,
            v.version,
            v.location,
            RetentionKind.DELETE,
            f"unreferenced and older than {policy.archived_years} years",
        )
    if v.location == "archive":
        return RetentionAction(
            v.name, v.version, v.location, RetentionKind.KEEP, "archived", delete_at
        )
    if now >= archive_at:
        reason = f"unreferenced and older than {policy.historical.days} days"
        if has_archive_copy:
            reason += " (archive copy exists; completing an interrupted move)"
        return RetentionAction(v.name, v.version, v.location, RetentionKind.ARCHIVE, reason)
    return RetentionAction(
        v.name, v.version, v.location, RetentionKind.KEEP, "historical", archive_at
    )
