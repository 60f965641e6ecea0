"""Loading a transformation for execution: fetch, verify, unpack privately, run confined.

Every load verifies the ed25519 signature and the archive digest against the trusted keys, then
checks each unpacked file against the manifest (the cache directory is not trusted either). The
artifact is never imported into this process: it runs in its own transformation host
(:mod:`streamdr.artifacts.host`, no secrets, limits, no network unless declared),
imported there under a synthetic package named after name, version and digest. Modules inside
an artifact must import each other relatively (``from . import rules``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamdr.artifacts.api import TransformV1
from streamdr.artifacts.errors import ArtifactRejectedError
from streamdr.artifacts.host import HostLimits, HostSpec, TransformHost
from streamdr.artifacts.manifest import Manifest
from streamdr.artifacts.package import unpack_archive, verify_files
from streamdr.artifacts.registry import verify_stored
from streamdr.artifacts.service import artifact_settings, open_registry, trusted_keys
from streamdr.settings.model import Settings
from streamdr.workflows.model import TransformationRef


@dataclass(frozen=True)
class LoadedArtifact:
    """A verified artifact, unpacked and running in its own transformation host."""

    manifest: Manifest
    directory: Path
    package: str
    transform: TransformHost


def cache_root(settings: Settings) -> Path:
    """Return the private directory verified artifacts are unpacked into (created 0700)."""
    cfg = artifact_settings(settings)
    raw = Path(cfg.cache_dir) if cfg.cache_dir else Path(".streamdr/artifact-cache")
    root = raw if raw.is_absolute() else settings.base_dir() / raw
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def load_transform(settings: Settings, ref: TransformationRef) -> TransformV1:
    """Return the verified entry point of ``ref``, running in a started transformation host.

    Raises ArtifactNotFoundError, ArtifactRejectedError (unsigned, tampered, unknown key),
    ArtifactLoadError (import failed) or TransformIsolationError (no network namespace for a
    workflow that did not declare network); all exit 2.
    """
    return load_artifact(settings, ref.name, ref.version, network=ref.network).transform


def load_artifact(
    settings: Settings,
    name: str,
    version: str,
    *,
    network: bool = False,
    limits: HostLimits | None = None,
) -> LoadedArtifact:
    """Return ``name@version`` verified, unpacked into the cache and started in its host."""
    stored = open_registry(settings).read(name, version)
    manifest = verify_stored(stored, trusted_keys(settings))
    assert stored.archive is not None  # verify_stored refuses a missing archive
    directory = ensure_unpacked(cache_root(settings), manifest, stored.archive)
    package = isolated_package_name(manifest)
    spec = HostSpec(directory, manifest.entry_point, package, manifest.ref, network)
    host = TransformHost(spec, limits)
    host.start()
    return LoadedArtifact(manifest, directory, package, host)


def ensure_unpacked(root: Path, manifest: Manifest, archive: bytes) -> Path:
    """Return the directory holding the verified files of ``manifest``, unpacking if needed."""
    dest = root / manifest.name / f"{manifest.version}-{manifest.sha256[:16]}"
    if dest.is_dir():
        try:
            verify_files(dest, manifest.files, manifest.ref)
            return dest
        except ArtifactRejectedError:
            # The cache is only a copy: rebuild it from the archive that just verified.
            shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        unpack_archive(archive, staging, manifest.files, manifest.ref)
        os.rename(staging, dest)
    except OSError:
        if not dest.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)  # another loader won the race
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def isolated_package_name(manifest: Manifest) -> str:
    """Return the synthetic package name ``manifest``'s modules are imported under."""
    ident = re.sub(r"\W", "_", f"{manifest.name}_{manifest.version}")
    return f"_streamdr_artifact_{ident}_{manifest.sha256[:12]}"
