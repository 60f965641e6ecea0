"""Backups of the config repository as git bundles in an object store, and rebuilding from one.

This is the strategy's alternative path for Scenario 3 ("if reflog also corrupted: restore the
repository from backup"). A backup is the bundle plus a manifest with its sha256 and the refs it
holds; restore checks both before anything touches the target path, builds the repository in a
scratch directory beside it and renames it into place, keeping any previous directory aside.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from streamdr.clock import utcnow
from streamdr.errors import InputError, StateError
from streamdr.objectstore.store import ObjectMissingError, ObjectStore
from streamdr.workflows.layout import (
    BUNDLE_ROOT,
    format_bundle_key,
    format_bundle_manifest_key,
    parse_bundle_key,
)
from streamdr.workflows.repo import ConfigRepo, GitError


class BundleManifest(BaseModel):
    """What one backup holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = 1
    created_at: datetime
    created_by: str
    bundle_key: str
    sha256: str
    size: int
    branch: str
    head: str | None
    refs: dict[str, str]
    bare: bool


def backup_repo(
    repo: ConfigRepo, store: ObjectStore, actor: str, now: datetime | None = None
) -> BundleManifest:
    """Write a bundle of every ref and its manifest (last) to ``store``; return the manifest.

    Raises StateError when the repository has no commits.
    """
    repo.require()
    refs = repo.refs()
    if not refs:
        raise StateError(
            f"the config repository {repo.path} has no commits to back up",
            hint="Commit the workflow files first.",
        )
    created = (now or utcnow()).astimezone(UTC)
    head = repo.head()
    anchor = head or next(iter(refs.values()))
    with tempfile.TemporaryDirectory(prefix="streamdr-bundle-") as tmp:
        path = Path(tmp) / "repo.bundle"
        repo.bundle_create(path)
        data = path.read_bytes()
    manifest = BundleManifest(
        created_at=created,
        created_by=actor,
        bundle_key=format_bundle_key(created, anchor),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        branch=repo.branch,
        head=head,
        refs=refs,
        bare=repo.is_bare(),
    )
    store.put_bytes(manifest.bundle_key, data)
    store.put_bytes(
        format_bundle_manifest_key(created, anchor), manifest.model_dump_json(indent=2).encode()
    )
    return manifest


def list_bundles(store: ObjectStore) -> list[BundleManifest]:
    """Return every committed backup in ``store``, newest first."""
    manifests = []
    for obj in store.list(BUNDLE_ROOT):
        key = parse_bundle_key(obj.key)
        if key is None or key.kind != "manifest":
            continue
        manifests.append(_read_manifest(store, obj.key))
    return sorted(manifests, key=lambda m: m.created_at, reverse=True)


def _read_manifest(store: ObjectStore, key: str) -> BundleManifest:
    try:
        return BundleManifest.model_validate_json(store.get_bytes(key))
    except ValidationError as exc:
        raise InputError(
            f"backup manifest {key} in store {store.name!r} is corrupt",
            hint="Choose another backup with --bundle KEY (`config backups` lists them).",
        ) from exc


def choose_bundle(store: ObjectStore, key: str | None) -> BundleManifest:
    """Return the manifest of the bundle ``key`` (a bundle key), or of the newest backup."""
    if key is None:
        found = list_bundles(store)
        if not found:
            raise InputError(
                f"store {store.name!r} holds no config repository backups",
                hint="Check config_repo.backup_store; `streamdr config backup` makes one.",
            )
        return found[0]
    parsed = parse_bundle_key(key)
    if parsed is None:
        raise InputError(
            f"{key!r} is not a backup key", hint="`streamdr config backups` lists the keys."
        )
    try:
        return _read_manifest(store, format_bundle_manifest_key(parsed.created_at, parsed.head))
    except ObjectMissingError as exc:
        raise InputError(
            f"backup {key} has no manifest (incomplete backup)",
            hint="Choose another backup; `streamdr config backups` lists complete ones.",
        ) from exc


def fetch_verified(store: ObjectStore, manifest: BundleManifest, dest: Path) -> None:
    """Download the bundle to ``dest`` and check its size and sha256.

    Raises InputError when the bundle is missing or corrupted.
    """
    try:
        data = store.get_bytes(manifest.bundle_key)
    except ObjectMissingError as exc:
        raise InputError(
            f"bundle {manifest.bundle_key} is missing from store {store.name!r}",
            hint="Choose another backup with --bundle KEY.",
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != manifest.size or digest != manifest.sha256:
        raise InputError(
            f"bundle {manifest.bundle_key} is corrupted: sha256 {digest[:16]}… does not match "
            f"its manifest ({manifest.sha256[:16]}…)",
            hint="Choose an older backup with --bundle KEY; nothing was changed.",
        )
    dest.write_bytes(data)


@dataclass
class RestoreResult:
    """The outcome of rebuilding the repository from a bundle."""

    manifest: BundleManifest
    target: Path
    executed: bool
    moved_aside: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "bundle": self.manifest.bundle_key,
            "created_at": self.manifest.created_at.isoformat(),
            "head": self.manifest.head,
            "refs": self.manifest.refs,
            "target": str(self.target),
            "executed": self.executed,
            "moved_aside": str(self.moved_aside) if self.moved_aside else None,
        }


def restore_bundle(
    store: ObjectStore,
    target: Path,
    *,
    key: str | None = None,
    replace: bool = False,
    execute: bool = True,
) -> RestoreResult:
    """Rebuild the repository at ``target`` from a backup (newest unless ``key``).

    Raises StateError when ``target`` exists and ``replace`` is False; InputError for a
    missing or corrupted bundle. An existing target is renamed aside, never deleted.
    """
    target = target.absolute()
    manifest = choose_bundle(store, key)
    if target.exists() and any(target.iterdir()) and not replace:
        raise StateError(
            f"{target} already exists",
            hint="Pass --replace to move it aside (it is kept as <path>.replaced-<time>).",
        )
    if not execute:
        return RestoreResult(manifest, target, executed=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    try:
        built = _build(store, manifest, scratch)
        aside = _swap_into_place(built, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RestoreResult(manifest, target, executed=True, moved_aside=aside)


def _build(store: ObjectStore, manifest: BundleManifest, scratch: Path) -> Path:
    bundle = scratch / "repo.bundle"
    fetch_verified(store, manifest, bundle)
    repo = ConfigRepo.init(scratch / "repo", manifest.branch, bare=manifest.bare)
    try:
        repo.git("bundle", "verify", "-q", str(bundle))
    except GitError as exc:
        raise InputError(
            f"bundle {manifest.bundle_key} does not verify: {exc.message}",
            hint="Choose another backup with --bundle KEY; nothing was changed.",
        ) from exc
    repo.git("fetch", "-q", "--update-head-ok", str(bundle), "+refs/*:refs/*")
    restored = repo.refs()
    missing = {r: c for r, c in manifest.refs.items() if restored.get(r) != c}
    if missing:
        raise InputError(
            f"bundle {manifest.bundle_key} lacks refs its manifest lists: {sorted(missing)}",
            hint="Choose another backup with --bundle KEY; nothing was changed.",
        )
    repo.git("symbolic-ref", "HEAD", repo.ref)
    if not manifest.bare and repo.head():
        repo.git("reset", "--hard", "-q")
    return repo.path


def _swap_into_place(built: Path, target: Path) -> Path | None:
    """Rename ``built`` to ``target``, moving an existing target aside; return where it went."""
    aside = None
    if target.exists():
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        aside = target.with_name(f"{target.name}.replaced-{stamp}")
        target.rename(aside)
    built.rename(target)
    return aside
