"""The artifact registry: immutable, signed versions on an object store.

Domain layer over the raw store and the pure key layout. It stores and fetches bytes; whether
they are trustworthy is decided by :func:`verify_stored` against the trusted keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from streamdr.artifacts.errors import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    ArtifactRejectedError,
)
from streamdr.artifacts.layout import (
    ARCHIVE_FILE,
    MANIFEST_FILE,
    ROOT,
    SIGNATURE_FILE,
    VERSION_FILES,
    format_artifact_key,
    parse_artifact_key,
)
from streamdr.artifacts.manifest import Manifest, parse_manifest
from streamdr.artifacts.signing import TrustedKeys, verify
from streamdr.objectstore.store import ObjectMissingError, ObjectStore


@dataclass(frozen=True)
class StoredArtifact:
    """The three objects of one version, as read (not yet verified)."""

    name: str
    version: str
    manifest: bytes
    signature: bytes | None
    archive: bytes | None

    @property
    def label(self) -> str:
        """Return ``name@version``."""
        return f"{self.name}@{self.version}"


class Registry:
    """Artifact versions in one object store (the registry or the archive)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @property
    def name(self) -> str:
        """Return the store's name in the settings."""
        return self.store.name

    def exists(self, name: str, version: str) -> bool:
        """Return True when ``name@version`` is published here (its manifest exists)."""
        return self.store.exists(format_artifact_key(name, version, MANIFEST_FILE))

    def put(
        self, name: str, version: str, archive: bytes, manifest: bytes, signature: bytes
    ) -> None:
        """Store a new version: archive, signature, then the manifest that commits it.

        Raises ArtifactExistsError when the version already exists.
        """
        if self.exists(name, version):
            raise ArtifactExistsError(
                f"artifact {name}@{version} already exists in store {self.name!r}; "
                "published versions are immutable",
                hint="Publish the change as a new version (bump the patch number).",
            )
        self.store.put_bytes(format_artifact_key(name, version, ARCHIVE_FILE), archive)
        self.store.put_bytes(format_artifact_key(name, version, SIGNATURE_FILE), signature)
        self.store.put_bytes(format_artifact_key(name, version, MANIFEST_FILE), manifest)

    def _get(self, name: str, version: str, file: str) -> bytes | None:
        try:
            return self.store.get_bytes(format_artifact_key(name, version, file))
        except ObjectMissingError:
            return None

    def read(self, name: str, version: str) -> StoredArtifact:
        """Return the stored objects of ``name@version``; raises ArtifactNotFoundError."""
        manifest = self._get(name, version, MANIFEST_FILE)
        if manifest is None:
            raise ArtifactNotFoundError(
                f"artifact {name}@{version} is not in store {self.name!r}",
                hint="`streamdr artifacts list` shows published versions; archived ones "
                "can be brought back with `streamdr artifacts restore`.",
            )
        return StoredArtifact(
            name,
            version,
            manifest,
            self._get(name, version, SIGNATURE_FILE),
            self._get(name, version, ARCHIVE_FILE),
        )

    def read_manifest(self, name: str, version: str) -> Manifest:
        """Return the (unverified) manifest of ``name@version``; raises ArtifactNotFoundError."""
        stored = self.read_manifest_bytes(name, version)
        return parse_manifest(stored, f"{name}@{version}")

    def read_manifest_bytes(self, name: str, version: str) -> bytes:
        """Return the raw manifest of ``name@version``; raises ArtifactNotFoundError."""
        data = self._get(name, version, MANIFEST_FILE)
        if data is None:
            raise ArtifactNotFoundError(
                f"artifact {name}@{version} is not in store {self.name!r}",
                hint="`streamdr artifacts list` shows published versions.",
            )
        return data

    def versions(self) -> list[tuple[str, str]]:
        """Return every committed ``(name, version)`` here, sorted."""
        keys = (parse_artifact_key(o.key) for o in self.store.list(ROOT))
        return sorted({(k.name, k.version) for k in keys if k and k.file == MANIFEST_FILE})

    def incomplete(self) -> list[tuple[str, str]]:
        """Return versions with objects but no manifest (an interrupted publish or delete)."""
        keys = [k for k in (parse_artifact_key(o.key) for o in self.store.list(ROOT)) if k]
        committed = {(k.name, k.version) for k in keys if k.file == MANIFEST_FILE}
        return sorted({(k.name, k.version) for k in keys} - committed)

    def copy_version(self, name: str, version: str, other: Registry) -> None:
        """Copy ``name@version`` into ``other``, manifest last."""
        for file in VERSION_FILES:
            key = format_artifact_key(name, version, file)
            if file == MANIFEST_FILE or self.store.exists(key):
                self.store.copy_to(key, other.store)

    def delete_version(self, name: str, version: str) -> None:
        """Delete ``name@version``: the manifest first, so it stops existing at once."""
        for file in reversed(VERSION_FILES):
            self.store.delete(format_artifact_key(name, version, file))


def verify_stored(stored: StoredArtifact, trusted: TrustedKeys) -> Manifest:
    """Return the manifest of a stored version after full verification.

    Checks the ed25519 signature over manifest.json against ``trusted``, that the manifest
    names this very version (a validly signed manifest moved to another key is refused), and
    the archive's size and sha256. Raises ArtifactRejectedError on any mismatch.
    """
    label = stored.label
    kid = verify(stored.manifest, stored.signature, trusted, label)
    manifest = parse_manifest(stored.manifest, label)
    if (manifest.name, manifest.version) != (stored.name, stored.version):
        raise ArtifactRejectedError(
            f"artifact {label}: manifest.json describes {manifest.ref}",
            hint="A manifest was copied under the wrong version; treat the entry as tampered.",
        )
    if manifest.signer_key_id != kid:
        raise ArtifactRejectedError(
            f"artifact {label}: signed by {kid} but the manifest names signer "
            f"{manifest.signer_key_id}",
            hint="Treat the entry as tampered.",
        )
    check_archive(stored.archive, manifest, label)
    return manifest


def check_archive(archive: bytes | None, manifest: Manifest, label: str) -> None:
    """Raise ArtifactRejectedError unless ``archive`` has the manifest's size and sha256."""
    if archive is None:
        raise ArtifactRejectedError(
            f"artifact {label}: artifact.tgz is missing",
            hint="The registry entry is incomplete; restore it from the archive store or "
            "publish a new version.",
        )
    digest = hashlib.sha256(archive).hexdigest()
    if len(archive) != manifest.size or digest != manifest.sha256:
        raise ArtifactRejectedError(
            f"artifact {label}: archive sha256 {digest[:16]}… does not match the signed "
            f"manifest ({manifest.sha256[:16]}…); the archive was tampered with or corrupted",
            hint="Do not deploy it; roll back to a verified version and investigate the registry.",
        )
