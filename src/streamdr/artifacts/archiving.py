"""Executing artifact retention: gather what is stored and referenced, plan, move and delete.

Referenced means pinned by any deployment ever recorded in the metadata DB, or by a workflow
file on the config branch's HEAD (about to be deployed). Moving a version to the archive copies
it (manifest last), re-checks the copy's digest, and only then deletes the registry copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from streamdr.artifacts.registry import Registry, check_archive
from streamdr.artifacts.retention import (
    RetentionAction,
    RetentionKind,
    RetentionPolicy,
    StoredVersion,
    plan_retention,
)
from streamdr.artifacts.service import artifact_settings, open_archive, open_registry
from streamdr.clock import iso, utcnow
from streamdr.errors import InputError, StreamdrError
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import artifact_events
from streamdr.workflows.context import open_repo
from streamdr.workflows.deployments import referenced_artifacts
from streamdr.workflows.documents import is_workflow_path, parse_workflow
from streamdr.workflows.repo import WORKFLOWS_DIR


@dataclass
class RetentionRun:
    """A retention plan and, once executed, what was done."""

    now: datetime
    referenced: set[tuple[str, str]]
    actions: list[RetentionAction]
    dry_run: bool = True
    done: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the run as a JSON-ready mapping."""
        counts = {str(k): sum(a.kind is k for a in self.actions) for k in RetentionKind}
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "counts": counts,
            "referenced": sorted(f"{n}@{v}" for n, v in self.referenced),
            "plan": [a.as_dict() for a in self.actions],
            "done": self.done,
        }


def policy_of(settings: Settings) -> RetentionPolicy:
    """Return the retention policy configured under ``artifacts``."""
    cfg = artifact_settings(settings)
    return RetentionPolicy(timedelta(days=cfg.historical_days), cfg.archive_years)


def stored_versions(registry: Registry, archive: Registry | None) -> list[StoredVersion]:
    """Return every committed version in the registry and the archive, with its publish time."""
    out = []
    for reg, location in ((registry, "registry"), (archive, "archive")):
        if reg is None:
            continue
        for name, version in reg.versions():
            created = reg.read_manifest(name, version).created_at
            out.append(StoredVersion(name, version, created, location))  # type: ignore[arg-type]
    return out


def head_references(settings: Settings) -> set[tuple[str, str]]:
    """Return the artifacts pinned by workflow files on the config branch's HEAD (if any)."""
    if settings.config_repo is None:
        return set()
    repo = open_repo(settings, require=False)
    try:
        repo.require()
        head = repo.head()
        files = repo.read_files(head, WORKFLOWS_DIR) if head else {}
    except StreamdrError:
        return set()
    refs = set()
    for path, content in files.items():
        wf = parse_workflow(content, path).workflow if is_workflow_path(path) else None
        if wf is not None:
            refs.add((wf.transformation.name, wf.transformation.version))
    return refs


def plan_artifact_retention(
    settings: Settings, store: MetadataStore, now: datetime | None = None
) -> RetentionRun:
    """Return the retention plan as of ``now`` (default: the current time)."""
    moment = (now or utcnow()).astimezone(UTC)
    referenced = referenced_artifacts(store) | head_references(settings)
    versions = stored_versions(open_registry(settings), open_archive(settings))
    actions = plan_retention(versions, referenced, moment, policy_of(settings))
    return RetentionRun(moment, referenced, actions)


def execute_retention(
    settings: Settings, store: MetadataStore, run: RetentionRun, actor: str
) -> RetentionRun:
    """Carry out the archive and delete actions of ``run``, recording each one.

    Raises InputError when versions are due for the archive but no archive store is set.
    """
    registry, archive = open_registry(settings), open_archive(settings)
    due = [a for a in run.actions if a.kind is not RetentionKind.KEEP]
    if archive is None and any(a.kind is RetentionKind.ARCHIVE for a in due):
        raise InputError(
            "versions are due for the archive but artifacts.archive_store is not set",
            hint="Add an archive store (e.g. an offsite s3:// store) under artifacts.",
        )
    run.dry_run = False
    for action in due:
        started = utcnow()
        source = registry if action.location == "registry" else archive
        assert source is not None
        if action.kind is RetentionKind.ARCHIVE:
            assert archive is not None
            move_to_archive(source, archive, action.name, action.version)
            target = archive.name
        else:
            source.delete_version(action.name, action.version)
            target = source.name
        record_artifact_event(
            store,
            action.name,
            action.version,
            str(action.kind),
            actor,
            target,
            {"reason": action.reason, "from": source.name},
        )
        run.done.append(
            {**action.as_dict(), "started_at": iso(started), "finished_at": iso(utcnow())}
        )
    return run


def move_to_archive(registry: Registry, archive: Registry, name: str, version: str) -> None:
    """Copy ``name@version`` to the archive, verify the copy's digest, delete the original."""
    if not archive.exists(name, version):
        registry.copy_version(name, version, archive)
    copy = archive.read(name, version)
    check_archive(copy.archive, archive.read_manifest(name, version), copy.label)
    registry.delete_version(name, version)


def restore_from_archive(
    settings: Settings, store: MetadataStore, name: str, version: str, actor: str
) -> None:
    """Copy an archived version back into the registry (it stays in the archive too)."""
    archive = open_archive(settings)
    if archive is None:
        raise InputError("artifacts.archive_store is not set", hint="Nothing can be restored.")
    registry = open_registry(settings)
    copy = archive.read(name, version)
    check_archive(copy.archive, archive.read_manifest(name, version), copy.label)
    if not registry.exists(name, version):
        archive.copy_version(name, version, registry)
    record_artifact_event(
        store, name, version, "restore", actor, registry.name, {"from": archive.name}
    )


def record_artifact_event(
    store: MetadataStore,
    name: str,
    version: str,
    action: str,
    actor: str,
    target: str,
    detail: dict[str, Any],
) -> None:
    """Record one lifecycle event of an artifact version."""
    with store.begin() as conn:
        conn.execute(
            insert(artifact_events).values(
                name=name,
                version=version,
                action=action,
                at=utcnow(),
                actor=actor,
                store=target,
                detail=detail,
            )
        )


def list_versions(settings: Settings, store: MetadataStore) -> list[dict[str, Any]]:
    """Return every stored version (registry and archive) with its manifest facts."""
    referenced = referenced_artifacts(store) | head_references(settings)
    rows = []
    for reg, location in (
        (open_registry(settings), "registry"),
        (open_archive(settings), "archive"),
    ):
        if reg is None:
            continue
        for name, version in reg.versions():
            manifest = reg.read_manifest(name, version)
            rows.append(
                {
                    "artifact": manifest.ref,
                    "name": name,
                    "version": version,
                    "location": location,
                    "created_at": manifest.created_at.isoformat(),
                    "signer_key_id": manifest.signer_key_id,
                    "entry_point": manifest.entry_point,
                    "sha256": manifest.sha256,
                    "size": manifest.size,
                    "referenced": (name, version) in referenced,
                }
            )
    return rows
