"""Restore the PostgreSQL metadata DB's newest backup into a scratch cluster beside the live one.

What the ``metadata-db-restore`` drill does with pgBackRest: restore the newest backup into a
new data directory and replay the archived WAL to its end, start the copy on its own port and
socket directory with archiving off (it must never push WAL into the live cluster's
repository), validate it as any metadata DB, then stop and remove it. The live cluster and its
data directory are never touched; the repository is only read.
"""

from __future__ import annotations

import re
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from streamdr.errors import InputError
from streamdr.fsutil import ensure_dir
from streamdr.metadb.integrity import IntegrityReport, validate_metadata_db
from streamdr.metadb.pg_cluster import start_cluster, stop_cluster, wait_promoted
from streamdr.metadb.pgbackrest import PgBackRest, give_to_user, run_pgbackrest
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore

WAL_NAME = re.compile(r"^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})")
LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def parse_lsn(value: str) -> int:
    """Return PostgreSQL's textual LSN ``X/Y`` as a byte position; raises ValueError."""
    match = LSN.match(value.strip())
    if not match:
        raise ValueError(f"not an LSN: {value!r}")
    return (int(match[1], 16) << 32) | int(match[2], 16)


def archived_end(wal_name: str | None, segment_size: int) -> int | None:
    """Return the WAL position up to which the archive surely holds everything, or None.

    ``wal_name`` is ``pg_stat_archiver.last_archived_wal``: a whole segment counts to its end;
    a ``.partial`` or ``.backup`` file of a segment only to the segment's start (conservative).
    """
    match = WAL_NAME.match(wal_name or "")
    if not match or segment_size <= 0:
        return None
    segno = int(match[1], 16) * (0x1_0000_0000 // segment_size) + int(match[2], 16)
    whole = len(wal_name or "") == 24
    return (segno + whole) * segment_size


def live_archived_end(conn: Connection) -> int | None:
    """Return :func:`archived_end` of the live cluster on ``conn`` (its archiver's last file)."""
    name = conn.execute(text("SELECT last_archived_wal FROM pg_stat_archiver")).scalar()
    size = conn.execute(
        text("SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'")
    ).scalar()
    return archived_end(name, int(size or 0))


@dataclass(frozen=True)
class ScratchRestorePlan:
    """Where and how the newest backup is restored beside the live cluster (pure, printable)."""

    stanza: str
    repository: str
    root: Path
    port: int
    restore_args: tuple[str, ...]
    server_options: str

    @property
    def data(self) -> Path:
        """Return the scratch cluster's data directory."""
        return self.root / "data"

    @property
    def log(self) -> Path:
        """Return the scratch cluster's server log."""
        return self.root / "postgresql.log"

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as a JSON-ready mapping, with its steps in order."""
        return {
            "stanza": self.stanza,
            "repository": self.repository,
            "data": str(self.data),
            "port": self.port,
            "steps": [
                f"pgbackrest {' '.join(self.restore_args)}",
                f"start it with `{self.server_options}` and wait until it is promoted",
                "validate the restored metadata DB (read only)",
                f"stop the scratch cluster and remove {self.root}",
            ],
        }


def plan_scratch_restore(rt: PgBackRest, root: Path, port: int) -> ScratchRestorePlan:
    """Return the plan restoring the newest backup + archived WAL into ``root``/data on ``port``.

    Raises InputError when ``root`` or ``port`` is the live cluster's (never restore over it).
    """
    live = Path(rt.cfg.pg_data).resolve()
    target = (root / "data").resolve()
    if port == rt.cfg.pg_port or live == target or live in target.parents or target in live.parents:
        raise InputError(
            f"scratch cluster {target}:{port} overlaps the live cluster {live}:{rt.cfg.pg_port}",
            hint="Pick another scratch directory and port.",
        )
    args = ("restore", f"--pg1-path={target}", "--type=default", "--archive-mode=off")
    # Command-line settings win over the restored postgresql.conf and postgresql.auto.conf:
    # the copy listens on its own port and socket, and never archives into the live repository.
    options = (
        f"-p {port} -k {shlex.quote(str(root))} -c listen_addresses=127.0.0.1 -c archive_mode=off"
    )
    return ScratchRestorePlan(rt.cfg.stanza, rt.repo.shown, root, port, args, options)


def scratch_url(live_url: str, port: int) -> str:
    """Return ``live_url`` pointed at the scratch cluster on loopback ``port``."""
    url = make_url(live_url).difference_update_query(["host", "port"])
    return url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@dataclass(frozen=True)
class ScratchRestoreResult:
    """The executed scratch restore: timings and the validation of the restored copy."""

    plan: ScratchRestorePlan
    restore_seconds: float
    recovery_seconds: float
    seconds: float
    integrity: IntegrityReport

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "plan": self.plan.as_dict(),
            "restore_seconds": round(self.restore_seconds, 2),
            "recovery_seconds": round(self.recovery_seconds, 2),
            "seconds": round(self.seconds, 2),
            "integrity": self.integrity.as_dict(),
        }


def execute_scratch_restore(
    settings: Settings, rt: PgBackRest, plan: ScratchRestorePlan, url: str
) -> ScratchRestoreResult:
    """Restore, start, wait for promotion and validate the scratch cluster; return the result.

    ``url`` is the scratch cluster's (see :func:`scratch_url`). The cluster is left running for
    the caller to read; :func:`remove_scratch` stops and removes it. Raises StateError
    (pgBackRest refused, recovery failed) or UnreachableError.
    """
    started = time.monotonic()
    for directory in (plan.root, plan.data):
        ensure_dir(directory)
        give_to_user(rt.run_as, directory)  # pg_ctl writes the log and socket there as that user
    run_pgbackrest(rt, list(plan.restore_args))
    restored = time.monotonic()
    start_cluster(rt, plan.data, plan.log, plan.server_options)
    recovery = wait_promoted(url, rt.cfg, rt.run_as, plan.data)
    store = MetadataStore(url)
    try:
        report = validate_metadata_db(settings, store, fix=False)
    finally:
        store.engine.dispose()
    return ScratchRestoreResult(
        plan, restored - started, recovery, time.monotonic() - started, report
    )


def remove_scratch(rt: PgBackRest, plan: ScratchRestorePlan) -> None:
    """Stop the scratch cluster (if it runs) and delete its directory; raises StateError."""
    stop_cluster(rt.cfg, rt.run_as, plan.data)
    shutil.rmtree(plan.root, ignore_errors=True)
