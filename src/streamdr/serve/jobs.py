"""What each job kind does: one function per kind calling the capability the CLI command calls.

A job function takes the settings, the metadata DB and its :class:`JobSpec`, and returns a small
JSON-able summary for the history. A verdict of "fail" (drift found, a check failing, a backup
copy broken) is raised as FailedCheckError so the run is recorded failed with the reason;
UnreachableError is retried by the runner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from streamdr.artifacts.registry import verify_stored
from streamdr.artifacts.service import open_registry, trusted_keys
from streamdr.backup.retention import apply_retention, plan_retention
from streamdr.backup.service import BackupOptions, BackupService
from streamdr.backup.targets import backup_stores
from streamdr.backup.verify import verify_store
from streamdr.backup.writer import RollPolicy
from streamdr.checks.service import run_checks
from streamdr.clock import utcnow
from streamdr.drills.context import DrillContext
from streamdr.drills.registry import run_drill
from streamdr.errors import FailedCheckError, StreamdrError
from streamdr.metadb import pg_pitr, pgbackrest
from streamdr.objectstore.store import open_store
from streamdr.replication import service as replication
from streamdr.replication.mm2.config import DEFAULT_INSTANCE
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.settings.model import Settings
from streamdr.settings.schedule import JobSpec
from streamdr.store.db import MetadataStore
from streamdr.workflows.bundles import backup_repo
from streamdr.workflows.context import open_repo
from streamdr.workflows.drift import gather_drift, reconcile

JobFunction = Callable[[Settings, MetadataStore, JobSpec], dict[str, Any]]
ACTOR = "streamdr-serve"


def _failed(message: str, detail: str) -> FailedCheckError:
    return FailedCheckError(message, hint=detail)


def run_backup(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Run one incremental backup pass of the site's topics; return its summary."""
    site, _ = settings.site(spec.site)
    stores = backup_stores(settings, site, spec.targets or None, spec.prefix)
    options = BackupOptions(site, spec.topics, False, RollPolicy(), 300.0)
    summary = BackupService(settings, store, stores, options, stop=threading.Event()).run()
    doc = summary.as_dict()
    return {k: doc[k] for k in ("records", "files", "bytes", "seconds") if k in doc}


def run_config_backup(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Write a git bundle of the config repository to ``config_repo.backup_store``."""
    target = open_store(settings, settings.config_repo.backup_store)  # type: ignore[union-attr,arg-type]
    manifest = backup_repo(open_repo(settings), target, ACTOR)
    return {"bundle": manifest.bundle_key, "refs": len(manifest.refs), "bytes": manifest.size}


def run_drift(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Compare deployed, branch and live state; reconcile when asked; fail on drift."""
    report = gather_drift(settings, store)
    applied = len(reconcile(settings, report)) if spec.reconcile and report.live else 0
    if report.unreachable:
        raise FailedCheckError(
            f"drift check could not reach {sorted(report.unreachable)}",
            hint="Check the sites with `streamdr check`.",
        )
    if report.has_drift and not applied:
        raise _failed("drift found", "Run `streamdr config drift` to see it.")
    return {"drift": report.has_drift, "reconciled_actions": applied}


def run_retention(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Apply the backup retention policy (archive past 90 days, delete past 7 years)."""
    site, _ = settings.site(spec.site)
    stores = backup_stores(settings, site, spec.targets or None, spec.prefix)
    plan = plan_retention(
        {s.name: s.manifests() for s in stores},
        None,
        utcnow(),
        s3_stores=frozenset(s.name for s in stores if s.objects.cfg.scheme == "s3"),
    )
    return {"done": apply_retention(plan, {s.name: s for s in stores})}


def run_check(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Evaluate the DR checklist; fail when an item fails."""
    results, code = run_checks(settings, store, site=spec.site, skip=set(spec.skip))
    failing = [f"{r.site}:{r.id}" for r in results if r.status != "pass"]
    if code != 0:
        raise _failed(f"{len(failing)} check items fail: {', '.join(failing[:10])}", "See check.")
    return {"items": len(results)}


def run_lag_sample(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Sample MirrorMaker 2 lag; fail when it is critical or a process is down."""
    doc, code = replication.status(settings, Mm2Runner(settings, DEFAULT_INSTANCE))
    if code != 0:
        raise _failed(f"replication status {doc.get('status')}", "Run `streamdr replicate status`.")
    return {"status": doc.get("status"), "partitions": len(doc.get("partitions", []))}


def run_backup_verify(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Verify each backup copy (catalog vs objects, offset continuity; --deep reads files)."""
    site, _ = settings.site(spec.site)
    reports = [
        verify_store(s, deep=spec.deep)
        for s in backup_stores(settings, site, spec.targets or None, spec.prefix)
    ]
    broken = [r for r in reports if not r.passed]
    if broken:
        raise _failed(f"{len(broken)} backup copies fail verification", "Run `backup verify`.")
    return {"copies": len(reports)}


def run_artifacts_verify(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Verify the signature and digest of every artifact version in the registry."""
    registry, keys = open_registry(settings), trusted_keys(settings)
    refused = []
    versions = registry.versions()
    for name, version in versions:
        try:
            verify_stored(registry.read(name, version), keys)
        except StreamdrError as exc:
            refused.append(f"{name}@{version}: {exc.message}")
    if refused:
        raise _failed(f"{len(refused)} artifacts refused: {refused[0]}", "Run `artifacts verify`.")
    return {"verified": len(versions)}


def run_scheduled_drill(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Run a drill that is safe to schedule; fail when its verdict is fail."""
    site, _ = settings.site(spec.site)
    run_id, report = run_drill(spec.drill or "", DrillContext(settings, site, store))
    if not report.passed:
        raise _failed(f"drill {spec.drill} failed (run {run_id})", "; ".join(report.failures))
    return {"drill_run": run_id}


def run_heartbeat(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Work for ``seconds`` and succeed (or fail when ``fail``): proves the scheduler runs."""
    time.sleep(spec.seconds)
    if spec.fail:
        raise _failed("heartbeat told to fail", "Set fail: false on this job.")
    return {"slept": spec.seconds}


def run_metadb_backup(settings: Settings, store: MetadataStore, spec: JobSpec) -> dict[str, Any]:
    """Take one pgBackRest backup of the PostgreSQL metadata DB; return the newest backup."""
    return pg_pitr.run_backup(pgbackrest.prepare(settings), spec.backup_type)


JOB_KINDS: dict[str, JobFunction] = {
    "backup": run_backup,
    "config-backup": run_config_backup,
    "drift": run_drift,
    "retention": run_retention,
    "check": run_check,
    "lag-sample": run_lag_sample,
    "backup-verify": run_backup_verify,
    "artifacts-verify": run_artifacts_verify,
    "drill": run_scheduled_drill,
    "heartbeat": run_heartbeat,
    "metadb-backup": run_metadb_backup,
}
