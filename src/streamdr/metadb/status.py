"""How far each Litestream replica is behind, and a verification by restoring it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from streamdr.errors import StreamdrError
from streamdr.metadb.integrity import validate_metadata_db
from streamdr.metadb.litestream import ReplicaRuntime, parse_json_lines, run_litestream
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


def local_txid(runtime: ReplicaRuntime, db: Path) -> str | None:
    """Return the newest transaction id Litestream saw in the local DB (hex), if any."""
    docs = parse_json_lines(run_litestream(runtime, ["status", "-json", str(db)]))
    return docs[0].get("local_txid") if docs else None


def replica_position(runtime: ReplicaRuntime, db: Path) -> dict[str, Any]:
    """Return the newest transaction id and file time in the replica (None when it is empty)."""
    files = parse_json_lines(run_litestream(runtime, ["ltx", "-json", "-level", "all", str(db)]))
    if not files:
        return {"txid": None, "latest_file_at": None, "files": 0}
    newest = max(files, key=lambda f: f.get("max_txid", ""))
    return {
        "txid": newest.get("max_txid"),
        "latest_file_at": max(f.get("timestamp", "") for f in files),
        "files": len(files),
    }


def replica_status(runtime: ReplicaRuntime, db: Path) -> dict[str, Any]:
    """Return one replica's status: where it is, its position and the local one."""
    doc: dict[str, Any] = {"replica": runtime.place.name, "location": runtime.place.shown}
    try:
        doc.update(replica_position(runtime, db))
        doc["local_txid"] = local_txid(runtime, db)
    except StreamdrError as exc:
        doc["error"] = exc.message
        return doc
    doc["caught_up"] = doc["txid"] is not None and doc["txid"] == doc["local_txid"]
    return doc


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
