"""Files that hold deployments, runs, keys or client payloads are private to streamdr's user."""

from __future__ import annotations

import stat
from pathlib import Path

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
