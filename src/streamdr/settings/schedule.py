"""The ``schedule:`` section of ``streamdr.yaml``: the jobs `streamdr serve` runs.

Each job has a kind (what it calls), an interval (``every`` seconds) or a five-field ``cron``
expression (UTC), and the options its kind reads. Shape errors are pydantic errors, so they
carry file:line; requirements on other sections (a ``config-backup`` job needs
``config_repo.backup_store``) are checked by ``streamdr.serve.validate`` at start-up.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

JOB_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

JobKind = Literal[
    "backup",
    "config-backup",
    "drift",
    "retention",
    "check",
    "lag-sample",
    "backup-verify",
    "artifacts-verify",
    "drill",
    "heartbeat",
    "metadb-backup",
]

# Drills that build their own throw-away world (config sandbox, local files) and touch no
# production site, so running them unattended cannot cause the outage they rehearse.
SCHEDULABLE_DRILLS = frozenset({"config-rollback", "repo-recovery", "metadata-db-restore"})


def _job_name(name: str) -> str:
    if not JOB_NAME.match(name):
        raise ValueError(f"job name {name!r} must be lower-case letters, digits and '-'")
    return name


def _crontab(expr: str) -> str:
    try:
        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"bad cron expression {expr!r}: {exc}") from exc
    return expr


JobName = Annotated[str, AfterValidator(_job_name)]
Crontab = Annotated[str, AfterValidator(_crontab)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class JobSpec(_Strict):
    """One scheduled job: what it runs, when, and the options of its kind."""

    kind: JobKind
    every: float | None = Field(None, gt=0, le=366 * 86400, description="Seconds between runs.")
    cron: Crontab | None = Field(None, description="Five-field crontab expression, UTC.")
    site: str | None = Field(None, description="Site (backup, retention, verify, check).")
    targets: list[str] = Field(default_factory=list, description="Stores (default: default one).")
    prefix: str | None = None
    topics: str | None = Field(None, description="Topic regex (backup).")
    skip: list[str] = Field(default_factory=list, description="Check items to skip (check).")
    reconcile: bool = Field(False, description="Apply the deployed state on drift (drift).")
    deep: bool = Field(False, description="Read every file (backup-verify).")
    drill: str | None = Field(None, description="Drill name (drill).")
    seconds: float = Field(0.0, ge=0, le=3600, description="Work time of a heartbeat job.")
    fail: bool = Field(False, description="A heartbeat that fails (to test alerting).")
    backup_type: Literal["full", "diff", "incr"] = Field(
        "full", description="pgBackRest backup type (metadb-backup)."
    )
    retries: int = Field(2, ge=0, le=10, description="Retries on an unreachable dependency.")
    misfire_grace_seconds: float = Field(
        300, gt=0, le=86400, description="A run missed by less than this still happens (once)."
    )

    @model_validator(mode="after")
    def _when_and_options(self) -> JobSpec:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of every (seconds) or cron")
        if self.kind == "drill":
            if self.drill is None:
                raise ValueError("a drill job needs drill: NAME")
            if self.drill not in SCHEDULABLE_DRILLS:
                raise ValueError(
                    f"drill {self.drill!r} is not safe to schedule "
                    f"(schedulable: {', '.join(sorted(SCHEDULABLE_DRILLS))})"
                )
        return self


class ScheduleSettings(_Strict):
    """The jobs of `streamdr serve` and how their single runner is elected."""

    jobs: dict[JobName, JobSpec] = Field(default_factory=dict)
    lease_seconds: float = Field(
        15, ge=1, le=600, description="A serve that stops renewing loses the lead after this."
    )
