"""Appendix A "Metadata & Configuration" and "Transformation Binaries" items for `check`.

Evaluated only when a config repository is configured (``config_repo``): a deployment without
workflows as code has nothing to judge here. Gathering (git, object store, metadata DB) is
separate from the pure evaluation, which is unit-tested with fixed facts and a fixed clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from streamdr.artifacts.registry import verify_stored
from streamdr.artifacts.service import open_registry, trusted_keys
from streamdr.checks.site import CheckResult, _result, drill_recency
from streamdr.drills.history import last_passed
from streamdr.errors import StreamdrError
from streamdr.objectstore.store import open_store
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.bundles import list_bundles
from streamdr.workflows.context import open_repo
from streamdr.workflows.deployments import current_deployment
from streamdr.workflows.drift import Relation, branch_relation

# Backups run hourly; a bundle is overdue once the next run is 30 minutes late.
BACKUP_MAX_AGE = timedelta(minutes=90)
# "Rollback procedure tested monthly": the default age limit of drill_recency (31 days).
ROLLBACK_DRILLS = ("config-rollback", "workflow-failure")
COMMITTED = {Relation.IN_SYNC, Relation.AHEAD}


@dataclass(frozen=True)
class ConfigFacts:
    """What `check` learned about the config repository, its backups and rollback drills."""

    relation: Relation
    backup_store: str | None
    newest_backup: datetime | None
    backup_error: str | None
    rollback_drill: datetime | None


def gather_config(settings: Settings, store: MetadataStore) -> ConfigFacts | None:
    """Return the facts for the config items, or None when no config repository is configured."""
    if settings.config_repo is None:
        return None
    deployment = current_deployment(settings, store)
    deployed = deployment.commit if deployment else None
    repo = open_repo(settings, require=False)
    try:
        repo.require()
        relation = branch_relation(deployed, repo.head(), repo.has_commit, repo.is_ancestor)
    except StreamdrError:
        relation = Relation.REPOSITORY_MISSING
    newest, error = _newest_bundle(settings)
    drills = [d for d in (last_passed(store, name) for name in ROLLBACK_DRILLS) if d]
    return ConfigFacts(
        relation, settings.config_repo.backup_store, newest, error, max(drills, default=None)
    )


def _newest_bundle(settings: Settings) -> tuple[datetime | None, str | None]:
    name = settings.config_repo.backup_store if settings.config_repo else None
    if name is None:
        return None, None
    try:
        bundles = list_bundles(open_store(settings, name))
    except StreamdrError as exc:
        return None, exc.message
    return max((b.created_at for b in bundles), default=None), None


def evaluate_config(facts: ConfigFacts, now: datetime) -> list[CheckResult]:
    """Return the config items for ``facts`` judged at ``now``."""
    committed = facts.relation in COMMITTED
    results = [
        _result(
            "config.committed",
            "The deployed configuration is a commit of the config repository's branch",
            "*",
            [] if committed else ["config_repo"],
            f"deployed commit vs branch: {facts.relation.value}",
        ),
        _backup_item(facts, now),
    ]
    results.append(
        drill_recency("drills.rollback-recent", ROLLBACK_DRILLS, facts.rollback_drill, now)
    )
    return results


def _backup_item(facts: ConfigFacts, now: datetime) -> CheckResult:
    item = "config.backup-hourly"
    text = "The config repository has a git bundle backup younger than 90 minutes"
    if facts.backup_store is None:
        return _result(item, text, "*", ["config_repo.backup_store"], "no backup store configured")
    if facts.backup_error is not None:
        return _result(item, text, "*", [facts.backup_store], facts.backup_error)
    if facts.newest_backup is None:
        return _result(item, text, "*", [facts.backup_store], "no bundle yet")
    age = now - facts.newest_backup
    minutes = int(age.total_seconds() // 60)
    offenders = [facts.backup_store] if age > BACKUP_MAX_AGE else []
    return _result(item, text, "*", offenders, f"newest bundle {minutes} min old")


@dataclass(frozen=True)
class ArtifactFacts:
    """Signature verification of every version in the artifact registry."""

    verified: int
    unverified: tuple[str, ...]
    incomplete: tuple[str, ...]
    error: str | None = None


def gather_artifacts(settings: Settings) -> ArtifactFacts | None:
    """Verify every registry version (sha256 + ed25519); None when no registry is configured."""
    if settings.artifacts is None:
        return None
    try:
        registry, trusted = open_registry(settings), trusted_keys(settings)
        versions, incomplete = registry.versions(), registry.incomplete()
    except StreamdrError as exc:
        return ArtifactFacts(0, (), (), exc.message)
    bad = []
    for name, version in versions:
        try:
            verify_stored(registry.read(name, version), trusted)
        except StreamdrError:
            bad.append(f"{name}@{version}")
    return ArtifactFacts(
        len(versions) - len(bad), tuple(bad), tuple(f"{n}@{v}" for n, v in incomplete)
    )


def evaluate_artifacts(facts: ArtifactFacts) -> CheckResult:
    """Return the "each version signed" item for ``facts``."""
    text = "Every transformation artifact verifies (sha256 and a trusted ed25519 signature)"
    if facts.error is not None:
        return _result("artifacts.signed", text, "*", ["artifacts.registry_store"], facts.error)
    detail = f"{facts.verified} verified"
    if facts.incomplete:
        detail += f"; unfinished publishes: {', '.join(facts.incomplete)}"
    return _result("artifacts.signed", text, "*", list(facts.unverified), detail)
