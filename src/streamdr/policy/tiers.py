"""The strategy's tiers and targets, as data.

Workflow tiers come from the strategy's Option 4 (hybrid); drill targets from "DR Drill
Procedures". These are the floor: streamdr's own drills also report against tighter lab targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Tier(StrEnum):
    """A workflow's DR tier."""

    CRITICAL = "critical"
    STANDARD = "standard"
    NON_CRITICAL = "non-critical"


class ReplicationMode(StrEnum):
    """How a tier's topics are protected across sites."""

    ACTIVE_ACTIVE = "active-active"
    ACTIVE_PASSIVE = "active-passive"
    BACKUP_ONLY = "backup-only"


@dataclass(frozen=True)
class Targets:
    """Recovery objectives: RPO and RTO."""

    rpo: timedelta
    rto: timedelta

    def as_dict(self) -> dict[str, float]:
        """Return the targets in seconds, for JSON reports."""
        return {"rpo_seconds": self.rpo.total_seconds(), "rto_seconds": self.rto.total_seconds()}


TIER_TARGETS: dict[Tier, Targets] = {
    Tier.CRITICAL: Targets(rpo=timedelta(minutes=1), rto=timedelta(minutes=1)),
    Tier.STANDARD: Targets(rpo=timedelta(minutes=5), rto=timedelta(minutes=30)),
    Tier.NON_CRITICAL: Targets(rpo=timedelta(hours=24), rto=timedelta(hours=4)),
}

TIER_REPLICATION: dict[Tier, ReplicationMode] = {
    Tier.CRITICAL: ReplicationMode.ACTIVE_ACTIVE,
    Tier.STANDARD: ReplicationMode.ACTIVE_PASSIVE,
    Tier.NON_CRITICAL: ReplicationMode.BACKUP_ONLY,
}

# "DR Drill Procedures" success criteria (RPO 0 means: not one acknowledged event lost).
DRILL_TARGETS: dict[str, Targets] = {
    "broker-failover": Targets(rpo=timedelta(0), rto=timedelta(minutes=1)),
    "config-rollback": Targets(rpo=timedelta(0), rto=timedelta(minutes=30)),
    "transformation-rollback": Targets(rpo=timedelta(0), rto=timedelta(hours=1)),
    "database-restore": Targets(rpo=timedelta(minutes=5), rto=timedelta(hours=1)),
    "site-failover": Targets(rpo=timedelta(minutes=5), rto=timedelta(minutes=30)),
}

# Appendix A: "Monthly failover drill scheduled".
DRILL_MAX_AGE = timedelta(days=31)
