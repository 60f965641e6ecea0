"""Retention of backups per the strategy, as a pure plan, its executor, and S3 lifecycle rules.

Live Kafka keeps 7 days; backups stay in the standard class for 90 days, then in the archive
class until 7 years, then are deleted. Age is the age of a file's newest record (data time), so
a plan is reproducible with ``--now``; S3 lifecycle rules can only use object creation time,
which for a backup running continuously is within one flush interval of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streamdr.backup.model import ManifestEntry
from streamdr.backup.store import BackupStore
from streamdr.clock import ms_to_datetime


@dataclass(frozen=True)
class RetentionPolicy:
    """How long data lives where (the strategy's "Retention Policy")."""

    live: timedelta = timedelta(days=7)
    standard: timedelta = timedelta(days=90)
    archive_until: timedelta = timedelta(days=7 * 365)

    def as_dict(self) -> dict[str, int]:
        """Return the policy in days."""
        return {
            "live_kafka_days": self.live.days,
            "standard_days": self.standard.days,
            "delete_after_days": self.archive_until.days,
        }


STRATEGY = RetentionPolicy()


@dataclass(frozen=True)
class RetentionAction:
    """One thing retention does (or cannot do) to one catalog entry."""

    kind: str  # archive | delete | archive-by-lifecycle | archive-unavailable
    store: str
    entry: ManifestEntry
    age_days: float
    to_store: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the action as a JSON-ready mapping."""
        return {
            "action": self.kind,
            "store": self.store,
            "to_store": self.to_store,
            "topic": self.entry.topic,
            "partition": self.entry.partition,
            "offsets": [self.entry.start_offset, self.entry.end_offset],
            "key": self.entry.key,
            "age_days": round(self.age_days, 2),
        }


@dataclass(frozen=True)
class RetentionPlan:
    """Every retention action at ``now``, with warnings for what cannot be done here."""

    now: datetime
    policy: RetentionPolicy
    actions: tuple[RetentionAction, ...]
    warnings: tuple[str, ...] = field(default=())

    def count(self, kind: str) -> int:
        """Return how many actions are of ``kind``."""
        return sum(a.kind == kind for a in self.actions)

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as a JSON-ready mapping."""
        return {
            "now": self.now.isoformat(),
            "policy": self.policy.as_dict(),
            "archive": self.count("archive"),
            "delete": self.count("delete"),
            "actions": [a.as_dict() for a in self.actions],
            "warnings": list(self.warnings),
        }


def entry_age(entry: ManifestEntry, now: datetime) -> timedelta:
    """Return the age of an entry's newest record (its write time for a gap entry)."""
    if entry.max_timestamp is not None and entry.has_data:
        return now - ms_to_datetime(entry.max_timestamp)
    return now - datetime.fromisoformat(entry.written_at) if entry.written_at else timedelta(0)


def plan_retention(
    standard: dict[str, list[ManifestEntry]],
    archive: tuple[str, list[ManifestEntry]] | None,
    now: datetime,
    *,
    policy: RetentionPolicy = STRATEGY,
    s3_stores: frozenset[str] = frozenset(),
) -> RetentionPlan:
    """Return the retention plan (pure) for standard-class stores and an optional archive store.

    Without an archive store, files past the standard period stay put: on S3 the bucket's
    lifecycle rule moves them (``archive-by-lifecycle``), elsewhere a warning says so.
    """
    actions: list[RetentionAction] = []
    for name, entries in sorted(standard.items()):
        for e in entries:
            age = entry_age(e, now)
            days = age.total_seconds() / 86400
            if age >= policy.archive_until:
                actions.append(RetentionAction("delete", name, e, days))
            elif age >= policy.standard and e.has_data:
                if archive is not None:
                    actions.append(RetentionAction("archive", name, e, days, archive[0]))
                else:
                    kind = "archive-by-lifecycle" if name in s3_stores else "archive-unavailable"
                    actions.append(RetentionAction(kind, name, e, days))
    if archive is not None:
        for e in archive[1]:
            age = entry_age(e, now)
            if age >= policy.archive_until:
                actions.append(
                    RetentionAction("delete", archive[0], e, age.total_seconds() / 86400)
                )
    warnings = []
    if any(a.kind == "archive-unavailable" for a in actions):
        warnings.append(
            "files older than the standard period stay in the standard store: no archive store "
            "(pass --archive-target, or use an S3 bucket with `backup lifecycle --format s3`)"
        )
    return RetentionPlan(now, policy, tuple(actions), tuple(warnings))


def apply_retention(plan: RetentionPlan, stores: dict[str, BackupStore]) -> dict[str, int]:
    """Carry out the archive and delete actions; return how many of each were done.

    An archive copies the file and its entry into the archive store before removing them from
    the standard store, so the catalog (the union of both) never loses the entry.
    """
    done = {"archive": 0, "delete": 0}
    for action in plan.actions:
        src = stores[action.store]
        if action.kind == "archive" and action.to_store:
            src.copy_entry_to(action.entry, stores[action.to_store])
            src.delete_entry(action.entry)
        elif action.kind == "delete":
            src.delete_entry(action.entry)
        else:
            continue
        done[action.kind] += 1
    return done


def lifecycle_rules_s3(
    key_prefix: str, policy: RetentionPolicy = STRATEGY, storage_class: str = "GLACIER"
) -> dict[str, Any]:
    """Return the S3 bucket lifecycle configuration equivalent to ``policy`` (pure).

    ``key_prefix`` is the bucket key prefix of the backup (store path plus backup prefix).
    """
    prefix = key_prefix.strip("/") + "/"
    return {
        "Rules": [
            {
                "ID": f"streamdr-backup-{prefix.strip('/').replace('/', '-')}",
                "Filter": {"Prefix": prefix},
                "Status": "Enabled",
                "Transitions": [{"Days": policy.standard.days, "StorageClass": storage_class}],
                "Expiration": {"Days": policy.archive_until.days},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            }
        ]
    }
