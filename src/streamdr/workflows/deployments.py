"""Deployments in the metadata DB: which commit is live, since when, deployed by whom.

Each row also keeps a snapshot of the deployed workflow files and the artifacts they pin, so the
running system (workers, retention, recovery) never depends on the git repository being intact:
``deployed_workflows`` reads the snapshot, and Scenario 3 recovery verifies the restored branch
file by file against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, insert, select

from streamdr.clock import utcnow
from streamdr.errors import StateError
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.store.schema import config_deployments
from streamdr.workflows.documents import parse_workflow
from streamdr.workflows.model import Workflow


@dataclass(frozen=True)
class Deployment:
    """One recorded deployment."""

    id: int
    commit: str
    branch: str
    kind: str
    deployed_at: datetime
    deployed_by: str
    previous_commit: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    artifacts: Sequence[str] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self, *, with_files: bool = False) -> dict[str, Any]:
        """Return the deployment as a JSON-ready mapping (file contents only if asked)."""
        doc: dict[str, Any] = {
            "id": self.id,
            "commit": self.commit,
            "branch": self.branch,
            "kind": self.kind,
            "deployed_at": self.deployed_at.isoformat(),
            "deployed_by": self.deployed_by,
            "previous_commit": self.previous_commit,
            "files": sorted(self.files),
            "artifacts": list(self.artifacts),
            "detail": dict(self.detail),
        }
        if with_files:
            doc["file_contents"] = dict(self.files)
        return doc


def _utc(ts: datetime) -> datetime:
    # SQLite drops the zone; streamdr always stores UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _from_row(row: Any) -> Deployment:
    return Deployment(
        id=row.id,
        commit=row.commit_sha,
        branch=row.branch,
        kind=row.kind,
        deployed_at=_utc(row.deployed_at),
        deployed_by=row.deployed_by,
        previous_commit=row.previous_commit,
        files=dict(row.files or {}),
        artifacts=list(row.artifacts or []),
        detail=dict(row.detail or {}),
    )


def record_deployment(
    store: MetadataStore,
    *,
    commit: str,
    branch: str,
    kind: str,
    deployed_by: str,
    previous_commit: str | None,
    files: Mapping[str, str],
    artifacts: Sequence[str],
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Deployment:
    """Store a deployment (one transaction) and return it."""
    values = {
        "commit_sha": commit,
        "branch": branch,
        "kind": kind,
        "deployed_at": at or utcnow(),
        "deployed_by": deployed_by,
        "previous_commit": previous_commit,
        "files": dict(files),
        "artifacts": sorted(set(artifacts)),
        "detail": dict(detail or {}),
    }
    with store.begin() as conn:
        new_id = conn.execute(insert(config_deployments).values(**values)).inserted_primary_key[0]
        row = conn.execute(
            select(config_deployments).where(config_deployments.c.id == new_id)
        ).one()
    return _from_row(row)


def deployment_history(store: MetadataStore, limit: int = 50) -> list[Deployment]:
    """Return the newest ``limit`` deployments, newest first."""
    query = select(config_deployments).order_by(desc(config_deployments.c.id)).limit(limit)
    with store.begin() as conn:
        return [_from_row(r) for r in conn.execute(query)]


def current_deployment(settings: Settings, store: MetadataStore) -> Deployment | None:
    """Return the deployment in force (the newest one), or None when nothing was deployed."""
    history = deployment_history(store, limit=1)
    return history[0] if history else None


def deployed_workflows(settings: Settings, store: MetadataStore) -> list[Workflow]:
    """Return the workflows of the currently deployed commit (empty when nothing is deployed).

    Reads the snapshot stored with the deployment. Raises StateError when a stored file no
    longer parses (a streamdr upgrade changed the schema incompatibly).
    """
    deployment = current_deployment(settings, store)
    if deployment is None:
        return []
    workflows = []
    for path, text in sorted(deployment.files.items()):
        doc = parse_workflow(text, f"{path}@{deployment.commit[:12]}")
        if doc.workflow is None:
            raise StateError(
                f"deployed file {doc.path} no longer validates: {doc.errors[0]}",
                hint="Fix the file in the config repository and `streamdr config deploy`.",
            )
        workflows.append(doc.workflow)
    return sorted(workflows, key=lambda w: w.name)


def referenced_artifacts(store: MetadataStore) -> set[tuple[str, str]]:
    """Return every ``(name, version)`` pinned by any deployment ever recorded."""
    with store.begin() as conn:
        rows = conn.execute(select(config_deployments.c.artifacts)).scalars()
        refs = {ref for artifacts in rows for ref in (artifacts or [])}
    return {tuple(r.split("@", 1)) for r in refs if "@" in r}  # type: ignore[misc]
