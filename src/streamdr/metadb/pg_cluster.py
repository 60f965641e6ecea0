"""Stopping and starting the metadata DB's PostgreSQL cluster with pg_ctl, around a restore."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from streamdr.errors import StateError, UnreachableError
from streamdr.metadb.pgbackrest import PgBackRest, as_user
from streamdr.settings.metadb_backup import PgBackRestSettings

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT = 300.0


def pg_ctl(cfg: PgBackRestSettings) -> str:
    """Return pg_ctl's path (``pg_bin_dir``, else the newest installed); raises StateError."""
    if cfg.pg_bin_dir:
        candidates = [Path(cfg.pg_bin_dir) / "pg_ctl"]
    else:
        dirs = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")), key=_version, reverse=True)
        candidates = [d / "pg_ctl" for d in dirs]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise StateError(
        "PostgreSQL's pg_ctl is not installed",
        hint="Install postgresql, or set metadata_db.pgbackrest.pg_bin_dir.",
    )


def _version(directory: Path) -> int:
    name = directory.parent.name
    return int(name) if name.isdigit() else 0


def _pg_ctl(
    cfg: PgBackRestSettings,
    user: str | None,
    *args: str,
    timeout: float,
    env: dict[str, str] | None = None,
) -> str | None:
    """Run pg_ctl; return None on success, its message otherwise (timeouts are errors)."""
    try:
        done = subprocess.run(
            as_user(user, [pg_ctl(cfg), *args]),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UnreachableError(
            f"pg_ctl {args[-1]} did not finish within {timeout:.0f}s",
            hint="See the cluster's log; a recovery may still be replaying WAL.",
        ) from exc
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-400:]


def cluster_running(cfg: PgBackRestSettings, user: str | None, data: Path) -> bool:
    """Return True when a postmaster runs on ``data``."""
    return _pg_ctl(cfg, user, "-D", str(data), "status", timeout=30) is None


def stop_cluster(cfg: PgBackRestSettings, user: str | None, data: Path) -> bool:
    """Stop the cluster on ``data`` (fast: open transactions roll back); return if it ran.

    Raises StateError when it does not stop.
    """
    if not data.is_dir() or not cluster_running(cfg, user, data):
        return False
    problem = _pg_ctl(cfg, user, "-D", str(data), "-m", "fast", "-w", "stop", timeout=120)
    if problem:
        raise StateError(f"pg_ctl stop on {data} failed: {problem}", hint="Stop it by hand.")
    return True


def start_cluster(rt: PgBackRest, data: Path, log: Path, server_options: str = "") -> None:
    """Start the cluster on ``data`` with its log in ``log``; raises UnreachableError.

    The postmaster gets the repository's environment: its restore_command (``archive-get``)
    and archive_command read an S3 repository with those keys. ``server_options`` (pg_ctl
    ``-o``) override settings of the data directory's own configuration files.
    """
    extra = ("-o", server_options) if server_options else ()
    args = ("-D", str(data), "-l", str(log), *extra, "-w", "-t", str(int(START_TIMEOUT)), "start")
    problem = _pg_ctl(rt.cfg, rt.run_as, *args, timeout=START_TIMEOUT + 30, env=rt.env())
    if problem:
        raise UnreachableError(
            f"PostgreSQL on {data} did not start: {problem}",
            hint=f"See {log}: a recovery target after the newest archived WAL stops recovery.",
        )


def wait_promoted(url: str, cfg: PgBackRestSettings, user: str | None, data: Path) -> float:
    """Wait until the restored cluster left recovery; return the seconds waited.

    Raises StateError when the postmaster exits (recovery failed), UnreachableError on timeout.
    """
    started = time.monotonic()
    engine = create_engine(url, pool_pre_ping=True)
    try:
        while time.monotonic() - started < START_TIMEOUT:
            if _left_recovery(engine):
                return time.monotonic() - started
            if not cluster_running(cfg, user, data):
                raise StateError(
                    f"PostgreSQL on {data} stopped during recovery",
                    hint="See its log: is the target time inside the archived WAL?",
                )
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise UnreachableError(
        f"PostgreSQL on {data} is still in recovery after {START_TIMEOUT:.0f}s",
        hint="See its log; `SELECT pg_is_in_recovery()` tells when it is done.",
    )


def _left_recovery(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            return not conn.execute(text("SELECT pg_is_in_recovery()")).scalar()
    except SQLAlchemyError:
        return False  # not accepting connections yet
