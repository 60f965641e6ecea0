"""Running one job: its lease, retries with backoff, durable history and metrics.

A run holds the lease ``job:<name>`` (renewed by a side thread while it works), so the same job
never runs twice at once, even when two serve processes or `jobs run` race. A failing job is
recorded and counted; it never stops the scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import stamina

from streamdr.errors import StreamdrError, UnreachableError
from streamdr.observe.metrics import JOB_DURATION, JOB_LAST_SUCCESS, JOB_RUNS
from streamdr.serve.history import finish_run, paused_jobs, start_run
from streamdr.serve.jobs import JOB_KINDS
from streamdr.serve.lease import Lease
from streamdr.settings.model import Settings
from streamdr.settings.schedule import JobSpec
from streamdr.store.db import MetadataStore

log = logging.getLogger(__name__)

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"
RETRY_WAIT_INITIAL = 1.0
RETRY_WAIT_MAX = 30.0


@dataclass
class ServeContext:
    """What every job run needs: settings, metadata DB, who we are, how long a lease lasts."""

    settings: Settings
    store: MetadataStore
    owner: str
    lease_ttl: timedelta

    def spec(self, name: str) -> JobSpec:
        """Return the declared job ``name``; raises KeyError when it is not declared."""
        return self.settings.schedule.jobs[name]


@dataclass(frozen=True)
class RunOutcome:
    """How one attempt to run a job ended."""

    job: str
    outcome: str
    run_id: int | None = None
    error: str | None = None
    detail: dict[str, Any] | None = None


def run_job(ctx: ServeContext, name: str, trigger: str) -> RunOutcome:
    """Run job ``name`` once unless it is paused (scheduled runs) or running elsewhere.

    Returns the outcome; never raises for a failing job (the failure is in the history).
    Raises UnreachableError only when the metadata DB itself cannot be reached.
    """
    spec = ctx.spec(name)
    if trigger == "scheduled" and name in paused_jobs(ctx.store):
        return _count(RunOutcome(name, SKIPPED, error="paused"))
    lease = Lease(ctx.store, f"job:{name}", ctx.owner, ctx.lease_ttl)
    if not lease.try_acquire():
        return _count(RunOutcome(name, SKIPPED, error="running elsewhere"))
    stop = threading.Event()
    keeper = threading.Thread(target=_keep, args=(lease, stop), daemon=True, name=f"lease-{name}")
    keeper.start()
    try:
        return _count(_record(ctx, name, spec, trigger))
    finally:
        stop.set()
        keeper.join()
        lease.release()


def _record(ctx: ServeContext, name: str, spec: JobSpec, trigger: str) -> RunOutcome:
    """Run the job between a ``running`` row and its final row; return the outcome."""
    run_id, started = start_run(ctx.store, name, spec.kind, trigger, ctx.owner)
    attempts, error, detail = _attempt(ctx, spec)
    duration = finish_run(
        ctx.store, run_id, started_at=started, error=error, attempts=attempts, detail=detail
    )
    JOB_DURATION.labels(name).observe(duration)
    if error is None:
        JOB_LAST_SUCCESS.labels(name).set(time.time())
        return RunOutcome(name, SUCCEEDED, run_id, detail=detail)
    log.warning("job %s failed: %s", name, error)
    return RunOutcome(name, FAILED, run_id, error=error)


def _attempt(ctx: ServeContext, spec: JobSpec) -> tuple[int, str | None, dict[str, Any] | None]:
    """Call the job's function, retrying UnreachableError; return (attempts, error, detail)."""
    attempts = 0
    try:
        for attempt in stamina.retry_context(
            on=UnreachableError,
            attempts=spec.retries + 1,
            wait_initial=RETRY_WAIT_INITIAL,
            wait_max=RETRY_WAIT_MAX,
            timeout=None,
        ):
            with attempt:
                attempts += 1
                return attempts, None, JOB_KINDS[spec.kind](ctx.settings, ctx.store, spec)
    except StreamdrError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        return attempts, f"{type(exc).__name__}: {exc.message}{hint}", None
    except Exception as exc:  # a bug in a job must not stop the scheduler; it is recorded
        log.exception("job kind %s raised", spec.kind)
        return attempts, f"internal error: {type(exc).__name__}: {exc}", None
    return attempts, "no attempt was made", None


def _keep(lease: Lease, stop: threading.Event) -> None:
    """Renew ``lease`` every third of its time until ``stop`` is set."""
    period = lease.ttl.total_seconds() / 3
    while not stop.wait(period):
        try:
            if not lease.renew():
                log.error("lease %s was taken over while the job runs", lease.name)
                return
        except StreamdrError as exc:
            log.warning("could not renew lease %s: %s", lease.name, exc.message)


def _count(outcome: RunOutcome) -> RunOutcome:
    JOB_RUNS.labels(outcome.job, outcome.outcome).inc()
    return outcome
