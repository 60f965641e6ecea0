"""Stopping and starting the metadata DB's PostgreSQL cluster with pg_ctl, around a restore."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from streamdr.errors import StateError, UnreachableError
from streamdr.metadb.pgbackrest import PgBackRest
from streamdr.runtime.postgres import PgCluster
from streamdr.settings.metadb_backup import PgBackRestSettings

START_TIMEOUT = 300.0
NOT_INSTALLED_HINT = "Install postgresql, or set metadata_db.pgbackrest.pg_bin_dir."


def _cluster(cfg: PgBackRestSettings, user: str | None, data: Path) -> PgCluster:
    return PgCluster(data, user, cfg.pg_bin_dir, NOT_INSTALLED_HINT)


def cluster_running(cfg: PgBackRestSettings, user: str | None, data: Path) -> bool:
    """Return True when a postmaster runs on ``data``."""
    return _cluster(cfg, user, data).running()


def stop_cluster(cfg: PgBackRestSettings, user: str | None, data: Path) -> bool:
    """Stop the cluster on ``data`` (fast: open transactions roll back); return if it ran.

    Raises StateError when it does not stop.
    """
    return _cluster(cfg, user, data).stop("fast")


def start_cluster(rt: PgBackRest, data: Path, log: Path, server_options: str = "") -> None:
    """Start the cluster on ``data`` with its log in ``log``; raises UnreachableError.

    The postmaster gets the repository's environment: its restore_command (``archive-get``)
    and archive_command read an S3 repository with those keys. ``server_options`` (pg_ctl
    ``-o``) override settings of the data directory's own configuration files.
    """
    _cluster(rt.cfg, rt.run_as, data).start(
        log,
        START_TIMEOUT,
        env=rt.env(),
        hint=f"See {log}: a recovery target after the newest archived WAL stops recovery.",
        server_options=server_options,
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
