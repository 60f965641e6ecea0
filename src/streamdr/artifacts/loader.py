"""Loading a transformation for execution: fetch, verify, unpack privately, import in isolation.

Every load verifies the ed25519 signature and the archive digest against the trusted keys, then
checks each unpacked file against the manifest (the cache directory is not trusted either). The
artifact is imported under a synthetic package named after name, version and digest, so two
versions of one transformation can run in the same process without sharing modules. Modules
inside an artifact must import each other relatively (``from . import rules``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamdr.artifacts.api import TransformV1
from streamdr.artifacts.errors import ArtifactLoadError, ArtifactRejectedError
from streamdr.artifacts.manifest import Manifest
from streamdr.artifacts.package import unpack_archive, verify_files
from streamdr.artifacts.registry import verify_stored
from streamdr.artifacts.service import artifact_settings, open_registry, trusted_keys
from streamdr.settings.model import Settings
from streamdr.workflows.model import TransformationRef


@dataclass(frozen=True)
class LoadedArtifact:
    """A verified artifact, unpacked and imported."""

    manifest: Manifest
    directory: Path
    package: str
    transform: TransformV1


def cache_root(settings: Settings) -> Path:
    """Return the private directory verified artifacts are unpacked into (created 0700)."""
    cfg = artifact_settings(settings)
    raw = Path(cfg.cache_dir) if cfg.cache_dir else Path(".streamdr/artifact-cache")
    root = raw if raw.is_absolute() else settings.base_dir() / raw
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def load_transform(settings: Settings, ref: TransformationRef) -> TransformV1:
    """Return the verified, imported entry point of ``ref``.

    Raises ArtifactNotFoundError, ArtifactRejectedError (unsigned, tampered, unknown key) or
    ArtifactLoadError (import failed); all exit 2.
    """
    return load_artifact(settings, ref.name, ref.version).transform


def load_artifact(settings: Settings, name: str, version: str) -> LoadedArtifact:
    """Return ``name@version`` verified, unpacked into the cache and imported."""
    stored = open_registry(settings).read(name, version)
    manifest = verify_stored(stored, trusted_keys(settings))
    assert stored.archive is not None  # verify_stored refuses a missing archive
    directory = ensure_unpacked(cache_root(settings), manifest, stored.archive)
    package = isolated_package_name(manifest)
    transform = import_entry_point(directory, manifest.entry_point, package, manifest.ref)
    return LoadedArtifact(manifest, directory, package, transform)


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


def _package(name: str, directory: Path) -> None:
    """Register an empty package ``name`` whose submodules are found in ``directory``."""
    existing = sys.modules.get(name)
    if existing is not None and list(getattr(existing, "__path__", [])) == [str(directory)]:
        return
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(directory)]
    sys.modules[name] = importlib.util.module_from_spec(spec)


def import_entry_point(directory: Path, entry_point: str, package: str, label: str) -> TransformV1:
    """Return the callable ``module:attr`` of ``directory`` imported under ``package``.

    Raises ArtifactLoadError when the import fails or the attribute is not callable.
    """
    module_name, attr = entry_point.split(":", 1)
    _package(package, directory)
    try:
        module = importlib.import_module(f"{package}.{module_name}")
    except Exception as exc:  # an artifact's import may raise anything; report, do not crash
        raise ArtifactLoadError(
            f"artifact {label}: importing {module_name} failed: {type(exc).__name__}: {exc}",
            hint="Fix the transformation and publish a new version; inside an artifact, "
            "import sibling modules relatively (from . import x).",
        ) from exc
    func = getattr(module, attr, None)
    if not callable(func):
        raise ArtifactLoadError(
            f"artifact {label}: {entry_point} is not a callable",
            hint="The entry point must name a function transform(event) -> list[OutputEvent].",
        )
    return func  # type: ignore[no-any-return]


def unload_package(package: str) -> None:
    """Forget every module imported under ``package`` (used after publish-time checks)."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
