"""Durable local file writes: temp name, fsync, rename, fsync of the directory.

A later step (a catalog after its data file, a lab state file, a key) relies on what an earlier
step wrote, so every such write goes through here: the bytes reach the disk before the rename,
and the rename reaches the disk before the function returns. Files are private by default
(0600, directories 0700): backups, keys and databases hold data that only streamdr reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from streamdr.errors import InputError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def fsync_dir(path: Path) -> None:
    """Flush the directory entry changes of ``path`` (a directory) to disk.

    Returns nothing; platforms that cannot open a directory (Windows) are skipped silently.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """Create ``path`` and missing parents with ``mode`` (existing directories are kept as is).

    Returns ``path``. Raises ``InputError`` when it cannot be created (a file is in the way, no
    permission, a read-only or virtual file system).
    """
    try:
        # mkdir(parents=True) would create the missing parents with the umask's mode: create
        # each missing level with ``mode`` instead, outermost first.
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for level in reversed(missing):
            level.mkdir(mode=mode, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create directory {path}: {exc.strerror or exc}",
            hint="Choose a directory you can write to.",
        ) from exc
    return path


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = PRIVATE_FILE) -> None:
    """Write ``data`` to ``path`` durably: temp file beside it, fsync, rename, fsync the dir.

    A reader sees the old content or the new one, never a half-written file, even after a crash.
    Returns nothing. Raises ``InputError`` when the directory cannot be written.
    """
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="Check that the directory exists and is writable.",
        ) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def atomic_write_text(path: Path, text: str, *, mode: int = PRIVATE_FILE) -> None:
    """Write ``text`` (UTF-8) to ``path`` durably; see ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def write_json_atomic(path: Path, doc: Any, *, mode: int = PRIVATE_FILE) -> None:
    """Write ``doc`` as indented, key-sorted JSON to ``path`` durably (``atomic_write_bytes``)."""
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True, default=str), mode=mode)


def create_private_file(path: Path) -> None:
    """Create ``path`` 0600 if missing and narrow it (and SQLite's -wal/-shm beside it) to 0600.

    Used before a database library opens a file it would otherwise create with the umask's
    mode: SQLite gives its -wal and -shm files the mode of the database file. Returns nothing;
    raises OSError when the file cannot be created.
    """
    # Never open an existing file here: closing any descriptor of a file drops every POSIX lock
    # this process holds on it, and SQLite's locks are POSIX locks. A second MetadataStore in a
    # process whose first one had the database open released that connection's lock; another
    # process then took the database for unused, checkpointed and removed the WAL under it, and
    # readers saw "database disk image is malformed" (CI, after chaos runs). O_EXCL opens only a
    # file that did not exist, which no connection of ours can hold.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():  # files of an older run may be wider
            os.chmod(name, PRIVATE_FILE)
