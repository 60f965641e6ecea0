"""Publishing a transformation directory as a signed, immutable registry version."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streamdr.artifacts.errors import ArtifactExistsError
from streamdr.artifacts.host import HostSpec, TransformHost
from streamdr.artifacts.manifest import Manifest
from streamdr.artifacts.package import (
    BuiltArchive,
    build_archive,
    check_entry_point,
    collect_files,
    default_entry_point,
    unpack_archive,
)
from streamdr.artifacts.registry import Registry, verify_stored
from streamdr.artifacts.service import open_registry, parse_ref, signing_key, trusted_keys
from streamdr.artifacts.signing import TrustedKeys, key_id, sign
from streamdr.errors import InputError
from streamdr.settings.model import Settings


def publish_artifact(
    settings: Settings,
    directory: Path,
    name: str,
    version: str,
    *,
    entry_point: str | None = None,
    key_path: Path | None = None,
    now: datetime | None = None,
) -> Manifest:
    """Package, sign and store ``directory`` as ``name@version``; return its manifest.

    Raises InputError for a bad name, version, directory or entry point, ArtifactExistsError
    when the version exists, and InputError when the signing key is not a trusted key.
    """
    parse_ref(f"{name}@{version}")
    return publish_to(
        open_registry(settings),
        directory,
        name,
        version,
        key=signing_key(settings, key_path),
        trusted=trusted_keys(settings),
        entry_point=entry_point,
        now=now,
    )


def publish_to(
    registry: Registry,
    directory: Path,
    name: str,
    version: str,
    *,
    key: Ed25519PrivateKey,
    trusted: TrustedKeys,
    entry_point: str | None = None,
    now: datetime | None = None,
) -> Manifest:
    """Publish into ``registry`` with ``key``; see :func:`publish_artifact`."""
    kid = key_id(key.public_key())
    if kid not in trusted:
        raise InputError(
            f"signing key {kid} is not among the trusted keys, so nothing would load "
            f"{name}@{version}",
            hint="Add the key's .pub file to artifacts.trusted_keys first.",
        )
    if registry.exists(name, version):
        raise ArtifactExistsError(
            f"artifact {name}@{version} already exists; published versions are immutable",
            hint="Publish the change as a new version (bump the patch number).",
        )
    files = collect_files(directory)
    paths = [p for p, _ in files]
    entry = entry_point or default_entry_point(paths)
    check_entry_point(entry, paths)
    built = build_archive(files)
    smoke_import(built, entry, f"{name}@{version}")
    manifest = Manifest(
        name=name,
        version=version,
        entry_point=entry,
        sha256=built.sha256,
        size=len(built.data),
        created_at=(now or datetime.now(UTC)).astimezone(UTC),
        signer_key_id=kid,
        files=list(built.files),
    )
    data = manifest.to_bytes()
    registry.put(name, version, built.data, data, sign(key, data))
    # Read back and verify, so a store that mangles bytes is caught at publish time.
    verify_stored(registry.read(name, version), trusted)
    return manifest


def smoke_import(built: BuiltArchive, entry_point: str, label: str) -> None:
    """Unpack ``built`` into a scratch directory and import its entry point in a host.

    This checks the archive exactly as a worker will load it, confined the same way: the code
    is never imported into this process. Raises ArtifactLoadError when the entry point cannot
    be imported, is not callable or ends the host, and TransformIsolationError when no
    network namespace can be made.
    """
    package = f"_streamdr_publish_check_{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory(prefix="streamdr-publish-") as scratch:
        unpack_archive(built.data, Path(scratch), list(built.files), label)
        host = TransformHost(HostSpec(Path(scratch), entry_point, package, label))
        try:
            host.start()
        finally:
            host.close()
