"""Packaging a transformation directory into a deterministic archive, and unpacking one safely.

The archive holds the directory's files (no caches, no VCS data, no symlinks) with fixed owners,
modes and timestamps, so publishing the same tree twice produces the same sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from streamdr.artifacts.errors import ArtifactRejectedError
from streamdr.artifacts.manifest import FileEntry
from streamdr.errors import InputError

ENTRY_POINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
DEFAULT_CALLABLE = "transform"
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", ".mypy_cache", ".pytest_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
MAX_ARCHIVE_BYTES = 64 << 20


@dataclass(frozen=True)
class BuiltArchive:
    """A packaged directory: the archive bytes, their sha256 and the files inside."""

    data: bytes
    sha256: str
    files: tuple[FileEntry, ...]


def collect_files(root: Path) -> list[tuple[str, Path]]:
    """Return ``(archive path, file)`` for every file to package, sorted.

    Raises InputError when ``root`` is not a directory or holds a symlink or special file.
    """
    if not root.is_dir():
        raise InputError(f"{root} is not a directory", hint="Pass the transformation's directory.")
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS for part in rel.parts) or path.name.endswith(_SKIP_SUFFIXES):
            continue
        if path.is_symlink():
            raise InputError(
                f"{path} is a symlink; artifacts must be self-contained",
                hint="Copy the file in place of the link.",
            )
        if path.is_dir():
            continue
        if not path.is_file():
            raise InputError(f"{path} is not a regular file", hint="Remove it from the directory.")
        found.append((rel.as_posix(), path))
    if not found:
        raise InputError(f"{root} contains no files", hint="Pass the transformation's directory.")
    return found


def module_file_candidates(module: str) -> tuple[str, str]:
    """Return the two archive paths that can hold ``module`` (``a/b.py``, ``a/b/__init__.py``)."""
    base = module.replace(".", "/")
    return f"{base}.py", f"{base}/__init__.py"


def default_entry_point(paths: list[str]) -> str:
    """Return ``transform:transform`` or ``<only package>:transform`` for the archive paths.

    Raises InputError when neither layout applies.
    """
    if "transform.py" in paths:
        return f"transform:{DEFAULT_CALLABLE}"
    packages = sorted(
        {p.split("/")[0] for p in paths if p.count("/") == 1 and p.endswith("/__init__.py")}
    )
    if len(packages) == 1:
        return f"{packages[0]}:{DEFAULT_CALLABLE}"
    raise InputError(
        "cannot tell the entry point: no transform.py and not exactly one top-level package "
        f"(found {packages or 'none'})",
        hint="Pass --entry-point module:callable.",
    )


def check_entry_point(entry_point: str, paths: list[str]) -> None:
    """Raise InputError unless ``entry_point`` is ``module:callable`` with the module packaged."""
    if not ENTRY_POINT.match(entry_point):
        raise InputError(
            f"entry point {entry_point!r} is not module:callable",
            hint="For example mypkg.transform:transform.",
        )
    module = entry_point.split(":", 1)[0]
    if not set(module_file_candidates(module)) & set(paths):
        raise InputError(
            f"entry point module {module!r} is not in the directory "
            f"(expected {' or '.join(module_file_candidates(module))})",
            hint="Check --entry-point against the directory layout.",
        )


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_archive(files: list[tuple[str, Path]]) -> BuiltArchive:
    """Return a deterministic tar.gz of ``files`` with their digests."""
    raw = io.BytesIO()
    entries = []
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for rel, path in files:
            data = path.read_bytes()
            tar.addfile(_tar_info(rel, len(data)), io.BytesIO(data))
            entries.append(
                FileEntry(path=rel, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            )
    packed = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    if len(packed) > MAX_ARCHIVE_BYTES:
        raise InputError(
            f"the archive is {len(packed)} bytes, above the {MAX_ARCHIVE_BYTES} byte limit",
            hint="Leave data files and virtualenvs out of the transformation directory.",
        )
    return BuiltArchive(packed, hashlib.sha256(packed).hexdigest(), tuple(entries))


def unpack_archive(data: bytes, dest: Path, expected: list[FileEntry], label: str) -> None:
    """Extract ``data`` into the empty directory ``dest`` and check every file's digest.

    Raises ArtifactRejectedError when the archive holds anything but the manifest's files.
    """
    wanted = {e.path: e for e in expected}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            if sorted(names) != sorted(wanted) or not all(m.isfile() for m in members):
                raise ArtifactRejectedError(
                    f"artifact {label}: archive contents differ from manifest.json",
                    hint="The entry is corrupt or tampered; do not load it.",
                )
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArtifactRejectedError(
            f"artifact {label}: archive cannot be unpacked ({exc})",
            hint="The entry is corrupt; publish a new version.",
        ) from exc
    verify_files(dest, expected, label)


def verify_files(root: Path, expected: list[FileEntry], label: str) -> None:
    """Raise ArtifactRejectedError unless every manifest file under ``root`` has its digest."""
    for entry in expected:
        path = root / entry.path
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ArtifactRejectedError(
                f"artifact {label}: {entry.path} is missing from the unpacked copy",
                hint="Delete the artifact cache directory and load again.",
            ) from exc
        if digest != entry.sha256:
            raise ArtifactRejectedError(
                f"artifact {label}: {entry.path} does not match its manifest digest",
                hint="The unpacked copy was modified; delete the artifact cache and load again.",
            )
