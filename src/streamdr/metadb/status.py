"""How far each Litestream replica is behind, and a verification by restoring it."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streamdr.errors import StreamdrError
from streamdr.metadb.integrity import validate_metadata_db
from streamdr.metadb.litestream import (
    COMMAND_TIMEOUT,
    ReplicaRuntime,
    parse_json_lines,
    run_litestream,
)
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


def local_txid(runtime: ReplicaRuntime, db: Path, timeout: float = COMMAND_TIMEOUT) -> str | None:
    """Return the newest transaction id Litestream saw in the local DB (hex), if any."""
    docs = parse_json_lines(run_litestream(runtime, ["status", "-json", str(db)], timeout))
    return docs[0].get("local_txid") if docs else None


def replica_position(
    runtime: ReplicaRuntime, db: Path, timeout: float = COMMAND_TIMEOUT
) -> dict[str, Any]:
    """Return the newest transaction id and file time in the replica (None when it is empty)."""
    args = ["ltx", "-json", "-level", "all", str(db)]
    files = parse_json_lines(run_litestream(runtime, args, timeout))
    if not files:
        return {"txid": None, "latest_file_at": None, "files": 0}
    newest = max(files, key=lambda f: f.get("max_txid", ""))
    return {
        "txid": newest.get("max_txid"),
        "latest_file_at": max(f.get("timestamp", "") for f in files),
        "files": len(files),
    }


def replica_status(
    runtime: ReplicaRuntime, db: Path, timeout: float = COMMAND_TIMEOUT
) -> dict[str, Any]:
    """Return one replica's status: where it is, its position and the local one.

    Never raises for an unreadable replica: its ``error`` says why.
    """
    doc: dict[str, Any] = {"replica": runtime.place.name, "location": runtime.place.shown}
    try:
        doc.update(replica_position(runtime, db, timeout))
        doc["local_txid"] = local_txid(runtime, db, timeout)
    except StreamdrError as exc:
        doc["error"] = exc.message
        return doc
    except ValueError as exc:  # a line of litestream's -json output that is not JSON
        doc["error"] = f"unreadable litestream output: {exc}"
        return doc
    doc["caught_up"] = doc["txid"] is not None and doc["txid"] == doc["local_txid"]
    return doc


# Litestream's file times have whole seconds: a write in the same second counts as shipped.
FILE_TIME_SLACK = timedelta(seconds=1)


def last_write_at(db: Path) -> datetime | None:
    """Return when the DB file or its WAL was last written (None when neither exists)."""
    times = [p.stat().st_mtime for p in (db, db.with_name(db.name + "-wal")) if p.exists()]
    return datetime.fromtimestamp(max(times), UTC) if times else None


def _file_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def replica_current_at(
    status: dict[str, Any], written_at: datetime | None, now: datetime
) -> datetime | None:
    """Return up to when a replica holds the DB, from :func:`replica_status`'s document.

    ``now`` when Litestream shipped every transaction it saw and nothing was written since its
    newest file (an idle DB is not a stale backup); else the newest file's time; None when the
    replica is empty, unreadable or its time unparsable.
    """
    newest = _file_time(status.get("latest_file_at"))
    if newest is None or status.get("error"):
        return None
    # The local txid is only what Litestream has seen: the DB's own write time guards against a
    # stopped replicate process that saw nothing of the newest writes.
    shipped_all = status.get("caught_up") is True
    if shipped_all and written_at is not None and written_at <= newest + FILE_TIME_SLACK:
        return now
    return newest


def verify_replica(settings: Settings, runtime: ReplicaRuntime, db: Path) -> dict[str, Any]:
    """Restore the replica's latest state into a scratch file and validate it; return a report.

    Nothing of the live DB is touched. ``passed`` is False when the restore or validation fails.
    """
    doc: dict[str, Any] = {"replica": runtime.place.name, "location": runtime.place.shown}
    scratch = Path(tempfile.mkdtemp(prefix="streamdr-metadb-verify-"))
    try:
        out = scratch / "restored.db"
        result = parse_json_lines(
            run_litestream(runtime, ["restore", "-json", "-o", str(out), str(db)])
        )
        doc["restored_txid"] = result[-1].get("txid") if result else None
        store = MetadataStore(f"sqlite:///{out}")
        report = validate_metadata_db(settings, store, fix=False)
        store.engine.dispose()
        doc["integrity"] = report.as_dict()
        doc["passed"] = report.passed
    except StreamdrError as exc:
        doc["passed"], doc["error"] = False, exc.message
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return doc
