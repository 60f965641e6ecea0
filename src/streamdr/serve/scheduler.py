"""The control plane's scheduler: elect one leader through a lease, and fire its jobs there.

Every serve process runs the election loop; only the holder of the ``scheduler`` lease runs
APScheduler (job store: the ``apscheduler_jobs`` table of the metadata DB, so next run times
survive restarts and a missed run is coalesced into one on start-up). A leader that cannot renew
for a whole lease period steps down before anyone else can take over; a standby takes the lease
once it has expired, so after a ``kill -9`` of the leader the standby leads within about
``lease_seconds`` plus one renewal period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from streamdr.clock import utcnow
from streamdr.errors import StreamdrError
from streamdr.observe.metrics import JOB_LAST_SUCCESS, SERVE_LEADER
from streamdr.serve.history import fail_abandoned, last_runs
from streamdr.serve.lease import Lease, holders
from streamdr.serve.runner import ServeContext, run_job
from streamdr.settings.schedule import JobSpec

log = logging.getLogger(__name__)

SCHEDULER_LEASE = "scheduler"
JOBSTORE_TABLE = "apscheduler_jobs"
ABANDONED = "abandoned: its serve process stopped renewing the job lease (crashed or killed)"

# The process's context, read by :func:`fire`: APScheduler stores jobs as a textual function
# reference plus arguments, so the function must find the settings and DB without a closure.
_CONTEXT: ServeContext | None = None


def fire(name: str) -> None:
    """Run job ``name`` as scheduled (called by APScheduler in its thread pool)."""
    if _CONTEXT is not None:
        run_job(_CONTEXT, name, "scheduled")


def trigger_of(spec: JobSpec) -> BaseTrigger:
    """Return the APScheduler trigger of a job: its interval or its cron expression (UTC)."""
    if spec.every is not None:
        return IntervalTrigger(seconds=spec.every, timezone=UTC)
    return CronTrigger.from_crontab(spec.cron or "", timezone=UTC)


class Sidecar(Protocol):
    """A process the leader runs beside the scheduler (e.g. Litestream on the metadata DB)."""

    def start(self) -> object:
        """Start it."""
        ...

    def stop(self) -> None:
        """Stop it."""
        ...


class ControlPlane:
    """The election loop and, while leading, the scheduler (and sidecars) of this process."""

    def __init__(
        self, ctx: ServeContext, sidecars: Callable[[], list[Sidecar]] | None = None
    ) -> None:
        self.ctx = ctx
        self._make_sidecars = sidecars or list
        self.sidecars: list[Sidecar] = []
        self.lease = Lease(ctx.store, SCHEDULER_LEASE, ctx.owner, ctx.lease_ttl)
        self.scheduler: BackgroundScheduler | None = None
        self._renewed_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="serve-election")

    @property
    def leader(self) -> bool:
        """Return True while this process fires the jobs."""
        return self.scheduler is not None

    def start(self) -> None:
        """Start the election loop in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop firing jobs, leave the election and hand the lease over at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.ctx.lease_ttl.total_seconds())
        self._step_down()
        try:
            self.lease.release()
        except StreamdrError as exc:
            log.warning("could not release the scheduler lease: %s", exc.message)

    def _loop(self) -> None:
        period = self.ctx.lease_ttl.total_seconds() / 3
        while not self._stop.is_set():
            self.step()
            self._stop.wait(period)

    def step(self) -> None:
        """Take or renew the lease; lead, keep leading or step down accordingly."""
        try:
            held: bool | None = self.lease.try_acquire()
        except StreamdrError as exc:
            log.warning("scheduler lease: %s", exc.message)
            held = None  # unknown: keep leading only until our lease would have expired
        now = time.monotonic()
        expired = now - self._renewed_at > self.lease.ttl.total_seconds()
        if held:
            self._renewed_at = now
            if not self.leader:
                self._lead()
            self._fail_abandoned()
        elif self.leader and (held is False or expired):
            log.warning("lost the scheduler lease; stepping down")
            self._step_down()

    def _lead(self) -> None:
        global _CONTEXT
        log.info("%s leads: starting the scheduler", self.ctx.owner)
        _CONTEXT = self.ctx
        scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": SQLAlchemyJobStore(engine=self.ctx.store.engine)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        scheduler.start(paused=True)
        sync_jobs(scheduler, self.ctx.settings.schedule.jobs)
        scheduler.resume()
        self.scheduler = scheduler
        SERVE_LEADER.set(1)
        _seed_last_success(self.ctx)
        self.sidecars = self._make_sidecars()
        for sidecar in self.sidecars:
            sidecar.start()

    def _step_down(self) -> None:
        for sidecar in self.sidecars:
            sidecar.stop()
        self.sidecars = []
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        SERVE_LEADER.set(0)

    def _fail_abandoned(self) -> None:
        """Mark runs left ``running`` by a process that no longer holds their job lease."""
        now = utcnow()
        live = {h.owner for h in holders(self.ctx.store, "job:") if h.live(now)}
        for run_id in fail_abandoned(self.ctx.store, live, ABANDONED):
            log.warning("job run %s was abandoned by a dead serve; marked failed", run_id)


def _seed_last_success(ctx: ServeContext) -> None:
    """Set the last-success gauges from the history, so a new leader does not report none."""
    for job, entry in last_runs(ctx.store).items():
        if entry["last_success"] and job in ctx.settings.schedule.jobs:
            at = datetime.fromisoformat(entry["last_success"])
            JOB_LAST_SUCCESS.labels(job).set(at.timestamp())


def sync_jobs(scheduler: BackgroundScheduler, jobs: dict[str, JobSpec]) -> None:
    """Make the job store hold exactly the declared jobs.

    A job whose trigger is unchanged keeps its stored next run time, so a run missed while no
    serve was leading happens once now (coalesced) if within its misfire grace.
    """
    for job in scheduler.get_jobs():
        if job.id not in jobs:
            scheduler.remove_job(job.id)
    for name, spec in jobs.items():
        trigger = trigger_of(spec)
        stored = scheduler.get_job(name)
        if stored is not None and str(stored.trigger) == str(trigger):
            continue
        scheduler.add_job(
            "streamdr.serve.scheduler:fire",
            trigger,
            args=[name],
            id=name,
            name=name,
            replace_existing=True,
            misfire_grace_time=int(spec.misfire_grace_seconds),
        )
