"""Files that hold deployments, runs, keys or client payloads are private to streamdr's user."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from streamdr.fsutil import atomic_write_text, create_private_file, write_json_atomic
from streamdr.store.db import MetadataStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_metadata_db_is_created_0600_and_a_wider_one_is_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    store = MetadataStore(f"sqlite:///{db}")
    store.engine.dispose()
    assert mode(db) == 0o600
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    old.chmod(0o644)
    MetadataStore(f"sqlite:///{old}")
    assert mode(old) == 0o600


_LOCK_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except OSError:
    print("held")
"""


def _lock_seen_by_another_process(db: Path) -> str:
    probe = [sys.executable, "-c", _LOCK_PROBE, str(db)]
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def test_a_second_store_in_a_process_keeps_the_first_ones_sqlite_lock(tmp_path: Path) -> None:
    # Closing any descriptor of a file drops the process's POSIX locks on it; the second store
    # must not open the database file, or another process may take it for unused and remove
    # the WAL under the first connection ("database disk image is malformed").
    db = tmp_path / "meta.db"
    first = MetadataStore(f"sqlite:///{db}")
    with first.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        assert _lock_seen_by_another_process(db) == "held"
        MetadataStore(f"sqlite:///{db}")
        create_private_file(db)
        assert _lock_seen_by_another_process(db) == "held"
    first.engine.dispose()


def test_atomic_writes_are_private_and_leave_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_json_atomic(target, {"a": 1})
    atomic_write_text(target, "replaced")
    assert target.read_text() == "replaced"
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_create_private_file_narrows_sqlite_side_files(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    for name in (db, tmp_path / "x.db-wal", tmp_path / "x.db-shm"):
        name.touch()
        name.chmod(0o666)
    create_private_file(db)
    assert {mode(p) for p in tmp_path.iterdir()} == {0o600}


def test_ensure_dir_creates_every_missing_level_private(tmp_path: Path) -> None:
    from streamdr.fsutil import ensure_dir

    deep = ensure_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", deep)] == [0o700] * 3
