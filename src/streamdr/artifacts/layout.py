"""Object-store key shapes of the artifact registry (pure; round-trip tested).

One version lives under ``artifacts/<name>/<version>/``::

    artifact.tgz      the package (deterministic tar.gz)
    manifest.sig      ed25519 signature of manifest.json's exact bytes
    manifest.json     name, version, sha256 of the archive, entry point, created_at, signer

``manifest.json`` is written last and removed first: a version exists exactly when its manifest
does, so a crash mid-publish never leaves a half-written registry entry that looks complete.
The archive store uses the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "artifacts"
ARCHIVE_FILE = "artifact.tgz"  # not .gz: pyarrow would decompress it on read
SIGNATURE_FILE = "manifest.sig"
MANIFEST_FILE = "manifest.json"
# Write order; the manifest commits the version.
VERSION_FILES = (ARCHIVE_FILE, SIGNATURE_FILE, MANIFEST_FILE)


@dataclass(frozen=True)
class ArtifactKey:
    """One file of one artifact version."""

    name: str
    version: str
    file: str


def format_version_prefix(name: str, version: str) -> str:
    """Return the key prefix of one version: ``artifacts/<name>/<version>``."""
    return f"{ROOT}/{name}/{version}"


def format_artifact_key(name: str, version: str, file: str) -> str:
    """Return the key of ``file`` (one of VERSION_FILES) of ``name@version``."""
    if file not in VERSION_FILES:
        raise ValueError(f"unknown artifact file {file!r}")
    return f"{format_version_prefix(name, version)}/{file}"


def parse_artifact_key(key: str) -> ArtifactKey | None:
    """Return the parts of a registry key, or None for a key that is not one."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != ROOT or parts[3] not in VERSION_FILES:
        return None
    if not parts[1] or not parts[2]:
        return None
    return ArtifactKey(parts[1], parts[2], parts[3])
