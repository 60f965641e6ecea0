"""A throw-away pipeline for the pipeline drills, built from the production pieces.

Each drill gets its own PostgreSQL database (a fresh local cluster on the lab, or a database on
a configured server whose ``fault_injection`` commands can stop it), its own config sandbox
(repository, signing key, artifact registry, metadata DB), a signed passthrough transformation
published and deployed with the real commands, the reference endpoint, ``streamdr cdc run`` and
``streamdr run`` as child processes, and a load generator whose *committed* writes are the
ground truth: every one must be applied at the endpoint exactly once.

The generic parts live in :mod:`streamdr.harness`: the load (``harness.load``), the child
processes (``harness.processes``), the ledger (``harness.ledger``) and polling
(``harness.polling``); this module keeps what is particular to the drills' rig.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamdr.artifacts.publish import publish_artifact
from streamdr.clock import utcnow
from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import delivery_yaml
from streamdr.drills.drill_database import DrillDatabase
from streamdr.drills.failure_note import write_failure_note
from streamdr.drills.report import DrillReport
from streamdr.errors import StateError, StreamdrError
from streamdr.harness import ledger
from streamdr.harness.config_sandbox import Sandbox
from streamdr.harness.derived_settings import derive, write_settings
from streamdr.harness.load import Load, row_load
from streamdr.harness.polling import poll_until, wait_for
from streamdr.harness.processes import ChildProcesses, probe, streamdr_command
from streamdr.harness.source_db import (
    create_change_table,
    create_database,
    row_ids,
    slot_exists,
)
from streamdr.pipeline.endpoint.server import EndpointProcess
from streamdr.pipeline.events import topic_for
from streamdr.policy.tiers import Targets
from streamdr.runtime.ports import free_ports
from streamdr.settings.model import SourceSettings
from streamdr.workflows.deploy import deploy
from streamdr.workflows.rollback import rollback_transformation

log = logging.getLogger(__name__)
TRANSFORM = "drill-passthrough"
GOOD, BUGGY = "1.0.0", "1.1.0"
SECRET_ENV = "STREAMDR_DRILL_SECRET"
TABLE = "drill_events"
SOURCE_RANGE = 1_000_000_000  # change numbers per source
LOG_ROOT = Path(tempfile.gettempdir()) / "streamdr-drill-logs"
# A new `cdc run` reaches Kafka (topics, checkpoint) before it creates its slot; on a loaded
# host that start took over 60 s (MirrorMaker 2 took 140 s in the same run), so allow more.
CDC_START_TIMEOUT_S = 180.0
# The endpoint is a `python -m streamdr` child: on a busy host (a drill starting MM2 JVMs at the
# same time) its start-up passed the 30 s default; waiting longer costs nothing when it is up.
ENDPOINT_START_TIMEOUT_S = 120.0
GOOD_CODE = '''"""Drill transformation: passes each change through with its identity."""
from streamdr.artifacts.api import OutputEvent


def transform(event):
    row = dict(event.after or event.before or {})
    return [OutputEvent(payload={"op": event.operation, "key": dict(event.key), "row": row})]
'''
BUGGY_CODE = '''"""Drill transformation with a bug: it fails on every event."""


def transform(event):
    raise KeyError("customer_id")
'''


@dataclass(frozen=True)
class RigSource:
    """One source database of a rig: its name, database, home site and change numbers."""

    name: str
    dbname: str
    site: str
    first: int  # first change number of its load

    def owns(self, change_no: int) -> bool:
        """Return True when ``change_no`` came from this source's load."""
        return self.first <= change_no < self.first + SOURCE_RANGE


class PipelineRig:
    """Database, sandbox config, endpoint, CDC and workers of one drill run."""

    def __init__(self, ctx: DrillContext, name: str, **workflow: Any) -> None:
        self.ctx = ctx
        self.id = uuid.uuid4().hex[:8]
        self.workflow_name = f"{name}-{self.id}"
        self.overrides = workflow
        self.db = DrillDatabase(ctx)
        self.dbname = f"drill_{self.id}"
        # Checkpoints are keyed by source name: a fresh name per run, never an old checkpoint.
        self.source = f"drill-{self.id}"
        self.sources: dict[str, RigSource] = {}
        self.children: ChildProcesses | None = None  # made with the sandbox, logs inside
        self.ports: dict[str, int] = {}  # worker key -> probe port
        self.sandbox: Any = None
        self.endpoint: EndpointProcess | None = None
        self.env = {SECRET_ENV: secrets.token_hex(16)}
        self.loads: list[Load[int]] = []
        self.cleanup_warnings: list[str] = []  # what close() could not remove

    @property
    def topic_prefix(self) -> str:
        """Return the topic prefix every source of the rig writes under."""
        return f"drill{self.id}"

    @property
    def topic(self) -> str:
        """Return the change topic of the drill table."""
        return topic_for(self.topic_prefix, f"public.{TABLE}")

    # ----- set-up --------------------------------------------------------------------------
    def setup(self, versions: tuple[str, ...] = (GOOD,), sites: tuple[str, ...] = ()) -> None:
        """Create the databases, sandbox, artifacts and deployment; start the endpoint.

        One source database per site in ``sites`` (default: the drill's site), all writing the
        same change topic on their own site, as regional databases of one workflow do; the
        workflow names the first. Raises StateError when a server or the sandbox fails.
        """
        self.db.start()
        for i, site in enumerate(sites or (self.ctx.site,)):
            name = self.source if i == 0 else f"{self.source}-{site}"
            dbname = self.dbname if i == 0 else f"{self.dbname}_{i}"
            self.sources[name] = RigSource(name, dbname, site, 1 + i * SOURCE_RANGE)
            create_database(self.db.dsn("postgres"), dbname)
            create_change_table(self.db.dsn(dbname), TABLE)

        base = Sandbox.create(self.ctx.settings)
        sources = {
            s.name: SourceSettings(
                kind="postgres",
                dsn=self.db.dsn(s.dbname),
                password_env=self.db.password_env(),
                topic_prefix=self.topic_prefix,
                tables=[f"public.{TABLE}"],
                site=s.site,
            )
            for s in self.sources.values()
        }
        settings = derive(base.settings, sources=sources, active_site=self.ctx.site)
        self.sandbox = Sandbox(base.root, settings, base.store, base.repo)
        self.config = write_settings(settings, base.root / "streamdr.yaml")
        self.logs = base.root / "logs"
        self.children = ChildProcesses(self.logs, self.env)
        self.endpoint = EndpointProcess(
            free_ports(1)[0],
            base.root / "endpoint.db",
            secret_env=SECRET_ENV,
            env=self.env,
            log_file=self.logs / "endpoint.log",
        )
        for version in versions:
            self.publish(version)
        self.deploy(GOOD, "add the drill workflow")
        self.endpoint.start(timeout=ENDPOINT_START_TIMEOUT_S)

    def publish(self, version: str) -> None:
        """Publish the good (1.0.0) or buggy (1.1.0) drill transformation, signed."""

        src = self.sandbox.root / "src" / version
        src.mkdir(parents=True, exist_ok=True)
        (src / "transform.py").write_text(GOOD_CODE if version == GOOD else BUGGY_CODE)
        publish_artifact(self.sandbox.settings, src, TRANSFORM, version)

    def workflow_yaml(self, version: str) -> bytes:
        """Return the drill workflow pinned to ``version``, delivering in ``ctx.delivery``."""
        o = {
            "tier": "critical",
            "max_attempts": 3,
            "initial_backoff_seconds": 0.5,
            "max_backoff_seconds": 2,
            "failure_threshold": 3,
            "reset_timeout_seconds": 5,
            **self.overrides,
        }
        return (
            f"name: {self.workflow_name}\nclient: drill\ntier: {o['tier']}\n"
            f"source:\n  database: {self.source}\n  tables: [public.{TABLE}]\n"
            f"transformation:\n  name: {TRANSFORM}\n  version: {version}\n"
            f"sink:\n  kind: http\n  url: {self.endpoint_url()}\n"
            f"  signing_secret_env: {SECRET_ENV}\n  timeout_seconds: 5\n"
            f"retry:\n  max_attempts: {o['max_attempts']}\n"
            f"  initial_backoff_seconds: {o['initial_backoff_seconds']}\n"
            f"  max_backoff_seconds: {o['max_backoff_seconds']}\n"
            f"breaker:\n  failure_threshold: {o['failure_threshold']}\n"
            f"  reset_timeout_seconds: {o['reset_timeout_seconds']}\n"
            f"{delivery_yaml(self.ctx.delivery)}"
        ).encode()

    def endpoint_url(self) -> str:
        assert self.endpoint is not None
        return f"{self.endpoint.url}/events/{self.workflow_name}"

    def deploy(self, version: str, message: str) -> None:
        """Commit the workflow pinned to ``version`` and deploy it (`config deploy`)."""

        path = f"workflows/drill/{self.workflow_name}.yaml"
        self.sandbox.commit({path: self.workflow_yaml(version)}, message)
        deploy(self.sandbox.context(), None, "streamdr-drill")

    def rollback(self, version: str) -> None:
        """Roll the workflow back to ``version`` (`streamdr rollback --to-version`)."""

        rollback_transformation(
            self.sandbox.context(), self.workflow_name, version, "streamdr-drill"
        )

    # ----- processes -----------------------------------------------------------------------
    def _spawn(self, key: str, args: list[str]) -> None:
        if self.children is None:
            raise StateError("the drill rig is not set up", hint="Call setup() first.")
        self.children.spawn(key, streamdr_command(self.config, args))

    def start_cdc(
        self, source: str | None = None, *, site: str | None = None, key: str = "cdc"
    ) -> None:
        """Start `streamdr cdc run SOURCE [--site S]` and wait for its replication slot.

        Raises StateError when the CDC process exits first (with its error) or the slot does not
        appear within CDC_START_TIMEOUT_S.
        """
        src = self.sources[source or self.source]
        self._spawn(key, ["cdc", "run", src.name, *(["--site", site] if site else [])])
        dsn = self.db.dsn(src.dbname)
        assert self.children is not None  # _spawn refused otherwise
        self.children.wait_while_running(
            key,
            lambda: slot_exists(dsn, src.dbname),
            CDC_START_TIMEOUT_S,
            "the CDC replication slot",
        )

    def start_worker(
        self,
        wait_ready: bool = True,
        *,
        site: str | None = None,
        subscriptions: dict[str, list[str]] | None = None,
        key: str = "worker",
    ) -> None:
        """Start `streamdr run --workflow W [--site S] [--subscriptions J]`.

        With ``wait_ready``, waits until /ready answers 200 (raises StateError after 90 s).
        """
        port = self.ports.setdefault(key, free_ports(1)[0])
        args = ["run", "--workflow", self.workflow_name, "--port", str(port)]
        if site is not None:
            args += ["--site", site]
        if subscriptions is not None:
            args += ["--subscriptions", json.dumps(subscriptions, sort_keys=True)]
        self._spawn(key, args)
        if wait_ready and self.children is not None:
            self.children.wait_while_running(
                key, lambda: self.ready(key)[0] == 200, 90, f"the {key} to be ready"
            )

    def ready(self, key: str = "worker") -> tuple[int, dict[str, Any]]:
        """Return (status, body) of a worker's /ready probe; (0, {}) when it is down."""
        port = self.ports.get(key)
        return probe(port) if port is not None else (0, {})

    def breaker(self) -> str | None:
        """Return the worker's breaker state for the drill workflow."""
        return self.ready()[1].get("workflows", {}).get(self.workflow_name, {}).get("breaker")

    def running(self, key: str) -> bool:
        """Return True while the child process ``key`` runs."""
        return self.children is not None and self.children.running(key)

    def stop(self, key: str, sig: signal.Signals = signal.SIGTERM, grace: float = 30.0) -> None:
        """Stop a child process: ``sig``, then SIGKILL after ``grace`` seconds."""
        self.stop_many([key], sig, grace)

    def stop_many(
        self, keys: list[str], sig: signal.Signals = signal.SIGTERM, grace: float = 30.0
    ) -> None:
        """Signal every child in ``keys`` at once; SIGKILL any still alive after ``grace``."""
        if self.children is not None:
            self.children.stop(keys, sig, grace)

    def start_load(self, rate: float, source: str | None = None) -> Load[int]:
        """Start inserting into ``source``'s database (default: the first) at ``rate`` rows/s."""
        src = self.sources[source or self.source]
        load = row_load(self.db.dsn(src.dbname), TABLE, rate, first=src.first)
        self.loads.append(load)
        return load

    def committed(self) -> dict[int, float]:
        """Return change number -> commit time of every committed row of every load."""
        return {no: at for load in self.loads for no, at in list(load.committed.items())}

    def rows_in_source(self, source: str | None = None) -> set[int]:
        """Return the change numbers present in ``source``'s table (default: the first source).

        Raises psycopg.Error when the database does not answer.
        """
        src = self.sources[source or self.source]
        return row_ids(self.db.dsn(src.dbname), TABLE)

    # ----- verification --------------------------------------------------------------------
    def applications(self) -> list[ledger.Application]:
        """Return (change number, delivering site, applied at) of every applied event, in order."""
        assert self.endpoint is not None
        return ledger.applications(self.endpoint.client.applied(self.workflow_name))

    def alerts(self) -> list[str]:
        """Return every alert the rig's processes logged so far."""
        return self.children.alerts() if self.children is not None else []

    def applied(self) -> list[int]:
        """Return the change number of every event the endpoint applied (repeats included)."""
        return [no for no, _site, _at in self.applications()]

    def applied_times(self) -> dict[int, float]:
        """Return change number -> time the endpoint applied it (first application)."""
        return ledger.first_applied(self.applications())

    def warm_up(self, seconds: float) -> int:
        """Wait for the first events at the endpoint, then ``seconds`` more; return the count.

        Raises StateError when nothing arrives within a minute.
        """
        wait_for(lambda: len(self.applied()) >= 20, 60, "first events at the endpoint")
        time.sleep(seconds)
        return len(self.applied())

    def wait_all_applied(self, committed: set[int], timeout: float) -> bool:
        """Wait until every committed change is applied; return False on timeout."""
        return poll_until(lambda: committed <= set(self.applied()), timeout)

    def verdict(self, committed: set[int]) -> dict[str, Any]:
        """Return events_lost, duplicates_applied and the counts behind them.

        When something is lost, the worker's /ready body comes first, for the diagnosis.
        """
        assert self.endpoint is not None
        applied = self.applied()
        counts = ledger.verdict(committed, applied, self.endpoint.client.stats()["duplicates"])
        diagnosis = {"worker_status": self.ready()[1]} if counts["events_lost"] else {}
        return {**diagnosis, **counts}

    # The drills poll through the rig; one implementation, in the harness.
    wait = staticmethod(wait_for)
    wait_quietly = staticmethod(poll_until)

    def stop_all(self) -> None:
        """Stop the loads and every child process (the endpoint keeps its records)."""
        for load in self.loads:
            load.stop()
        if self.children is not None:
            self.children.stop_all()

    def close(self, *, keep_logs: bool = False) -> Path | None:
        """Stop everything and remove the databases and sandbox; return kept logs, if any."""
        self.stop_all()
        if self.endpoint is not None:
            self.endpoint.stop()
        try:
            self.db.close(*(src.dbname for src in self.sources.values()))
        except StreamdrError as exc:
            self.cleanup_warnings.append(f"{exc.message} (hint: {exc.hint})")
        except Exception as exc:  # clean-up goes on; what it left is reported, not hidden
            self.cleanup_warnings.append(f"dropping the drill databases failed: {exc!r}")
        for warning in self.cleanup_warnings:
            log.warning("drill clean-up: %s", warning)
        kept = None
        if self.sandbox is not None:
            if keep_logs and self.logs.exists():
                kept = LOG_ROOT / self.workflow_name
                shutil.copytree(self.logs, kept, dirs_exist_ok=True)
            self.sandbox.close()
        return kept

    def close_for(self, report: DrillReport, error: BaseException | None = None) -> None:
        """Close; a drill that did not pass keeps the logs (path in ``figures["logs"]``).

        Its log directory always holds a note of what failed (step, time, ``error`` and its
        hint), even when the drill failed before any process wrote a log.
        """
        kept = self.close(keep_logs=not report.passed)
        if not report.passed:
            kept = kept or LOG_ROOT / self.workflow_name
            try:
                write_failure_note(kept, report, error, utcnow())
            except (OSError, StreamdrError) as exc:  # the report still says what failed
                log.warning("cannot write the drill's failure note in %s: %s", kept, exc)
        if kept:
            report.figures["logs"] = str(kept)
        if self.cleanup_warnings:
            report.figures["cleanup_warnings"] = list(self.cleanup_warnings)


def run_on_rig(
    ctx: DrillContext,
    report: DrillReport,
    prefix: str,
    exercise: Callable[[PipelineRig], None],
    *,
    versions: tuple[str, ...] | None = None,
    setup_step: str = "set up database, signed transformation, deployment, endpoint",
) -> DrillReport:
    """Build a rig, start CDC and the worker, run ``exercise``, always tear the rig down.

    Returns ``report``; a failed drill keeps the processes' logs (path in ``figures["logs"]``).
    """
    rig = PipelineRig(ctx, prefix)
    error: BaseException | None = None
    try:
        with report.step(setup_step) as st:
            rig.setup(versions=versions or (GOOD,))
            rig.start_cdc()
            rig.start_worker()
            st.detail = f"workflow {rig.workflow_name}"
        exercise(rig)
    except BaseException as exc:
        error = exc  # named in the failure note of the kept log directory
        raise
    finally:
        rig.close_for(report, error)
    return report


def steady_load(
    rig: PipelineRig, report: DrillReport, rate: float, warmup: float, step: str
) -> Load:
    """Start load at ``rate``, wait for the first events at the endpoint and ``warmup`` s more.

    Returns the running load; raises StateError when nothing arrives within a minute.
    """
    with report.step(step) as st:
        load = rig.start_load(rate)
        st.detail = f"{rig.warm_up(warmup)} applied"
    return load


def verify_exactly_once(
    rig: PipelineRig,
    report: DrillReport,
    step: str,
    committed: Callable[[], set[int]],
    timeout: float,
) -> tuple[bool, float, dict[str, Any]]:
    """Wait until every committed change is applied; record ``step`` with lost and twice.

    ``committed`` is called inside the step (stopping the load there, when it does). Returns
    (all applied in time, when the wait ended, the ledger's verdict).
    """
    with report.step(step) as st:
        truth = committed()
        done = rig.wait_all_applied(truth, timeout)
        ended_at = time.time()
        verdict = rig.verdict(truth)
        st.ok = done
        st.detail = f"lost {verdict['events_lost']}, twice {verdict['duplicates_applied']}"
    return done, ended_at, verdict


def exactly_once_checks(
    report: DrillReport, verdict: dict[str, Any], rto: float | None, targets: Targets
) -> dict[str, bool]:
    """Set the report's RTO and RPO (0 when nothing was lost); return the checks behind them."""
    report.rto_seconds = round(rto, 3) if rto is not None else None
    report.rpo_seconds = 0.0 if verdict["events_lost"] == 0 else None
    limit = targets.rto.total_seconds()
    return {
        "events_lost = 0": verdict["events_lost"] == 0,
        "duplicates_applied = 0": verdict["duplicates_applied"] == 0,
        f"RTO < {limit:.0f}s": rto is not None and rto < limit,
    }
