"""Drill ``metadata-db-restore`` on a PostgreSQL metadata DB backed up by pgBackRest.

Runs against the configured metadata DB without harming it: the drill writes acknowledged
marks into the live database for a few seconds (one row of ``serve_leases`` named
``drill-mark:…``, already expired so it holds nothing), then, as if the disk were lost at that
moment, restores the newest backup plus the archived WAL into a scratch cluster on its own port
(:mod:`streamdr.metadb.pg_scratch`), validates it and reads the newest mark it holds.

RPO: the last acknowledged mark minus the newest mark the archive held at that moment (each
mark's commit position against the end of the last archived WAL file, read from the live
cluster at the loss; bounded by ``archive_timeout_seconds``). The restored copy must hold at
least that mark; it may hold more, as the live cluster keeps archiving while the drill restores
(``restored_rpo_seconds``, not judged). RTO: from the loss until the restored copy is promoted
and validated. The scratch cluster and the mark are removed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from streamdr.clock import as_utc, utcnow
from streamdr.drills.context import DrillContext
from streamdr.drills.report import DrillReport
from streamdr.errors import InputError, StateError
from streamdr.metadb import pgbackrest
from streamdr.metadb.pg_scratch import (
    execute_scratch_restore,
    live_archived_end,
    parse_lsn,
    plan_scratch_restore,
    remove_scratch,
    scratch_url,
)
from streamdr.policy.tiers import Targets
from streamdr.runtime.ports import free_ports
from streamdr.store.db import MetadataStore
from streamdr.store.schema import serve_leases

RTO_TARGET = timedelta(seconds=60)
# The archive holds WAL up to at most archive_timeout old; this much more for archive-push.
ARCHIVE_SLACK = timedelta(seconds=5)
MARK_INTERVAL = 0.05
MARK_OWNER = "drill:metadata-db-restore"


def pg_targets(archive_timeout_seconds: int) -> Targets:
    """Return the drill's objectives: RPO bounded by the archive timeout, RTO one minute."""
    return Targets(rpo=timedelta(seconds=archive_timeout_seconds) + ARCHIVE_SLACK, rto=RTO_TARGET)


@dataclass(frozen=True)
class Mark:
    """One acknowledged write: when it was acknowledged and the WAL position after its commit."""

    at: datetime
    lsn: int


def run_pg_drill(ctx: DrillContext, report: DrillReport) -> DrillReport:
    """Restore the live PostgreSQL metadata DB into a scratch cluster and fill ``report``.

    Raises InputError when the metadata DB is not PostgreSQL or pgBackRest is not configured.
    """
    rt = pgbackrest.prepare(ctx.settings)
    live = MetadataStore.from_settings(ctx.settings)
    if not pgbackrest.is_postgres(live.url):
        raise InputError(
            "metadata_db.pgbackrest is configured but metadata_db.url is not PostgreSQL",
            hint="Point metadata_db.url at the cluster pgBackRest backs up.",
        )
    report.targets = pg_targets(rt.cfg.archive_timeout_seconds)
    root = Path(tempfile.mkdtemp(prefix="streamdr-drill-metadb-pg-"))
    try:
        plan = plan_scratch_restore(rt, root, free_ports(1)[0])
    except InputError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    name = f"drill-mark:{uuid.uuid4().hex[:12]}"
    # Writing for longer than the archive timeout: the first marks must be in the archive, so a
    # restore without any mark means archiving is broken, not that the drill was too quick.
    seconds = (report.targets.rpo + timedelta(seconds=1)).total_seconds()
    try:
        with report.step("acknowledged writes into the live metadata DB; then the loss") as st:
            marks = _write_marks(live, name, seconds)
            with live.begin() as conn:
                archived = live_archived_end(conn)
            lost_at = time.monotonic()
            st.detail = f"{len(marks)} marks {name}; archived up to {archived} at the loss"
        with report.step("restore the newest backup + WAL into a scratch cluster, validate") as st:
            st.detail = f"plan: {plan.as_dict()['steps']}"
            url = scratch_url(live.url, plan.port)
            result = execute_scratch_restore(ctx.settings, rt, plan, url)
            rto = time.monotonic() - lost_at
            restored = _read_mark(url, name)
            st.detail += f"; {result.as_dict()}"
        _judge(report, result.integrity.problems, marks, archived, restored, rto)
        report.figures.update(
            restore_seconds=round(result.restore_seconds, 3),
            recovery_seconds=round(result.recovery_seconds, 3),
        )
    finally:
        with report.step("stop and remove the scratch cluster, delete the mark") as st:
            remove_scratch(rt, plan)
            _delete_mark(live, name)
            st.detail = f"removed {root}"
            shutil.rmtree(root, ignore_errors=True)
    return report


def _write_marks(store: MetadataStore, name: str, seconds: float) -> list[Mark]:
    """Write the mark every MARK_INTERVAL for ``seconds``; return each acknowledged write."""
    marks: list[Mark] = []
    deadline = time.monotonic() + seconds
    while not marks or time.monotonic() < deadline:
        if marks:
            time.sleep(MARK_INTERVAL)
        now = utcnow()
        with store.begin() as conn:
            if marks:
                conn.execute(
                    update(serve_leases)
                    .where(serve_leases.c.name == name)
                    .values(acquired_at=now, expires_at=now)
                )
            else:  # already expired: the row holds nothing a serve could wait for
                conn.execute(
                    insert(serve_leases).values(
                        name=name, owner=MARK_OWNER, acquired_at=now, expires_at=now
                    )
                )
        with store.begin() as conn:  # after the commit: at or past its commit record
            lsn = parse_lsn(str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar()))
        marks.append(Mark(now, lsn))
    return marks


def _read_mark(url: str, name: str) -> datetime | None:
    """Return the newest mark the restored copy holds (None when it has none)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                select(serve_leases.c.acquired_at).where(serve_leases.c.name == name)
            ).scalar()
    except SQLAlchemyError as exc:
        raise StateError(
            f"the restored copy cannot be read: {str(exc).splitlines()[0]}",
            hint="See the scratch cluster's log in the step detail.",
        ) from exc
    finally:
        engine.dispose()
    return as_utc(value) if value is not None else None


def _delete_mark(store: MetadataStore, name: str) -> None:
    with store.begin() as conn:
        conn.execute(delete(serve_leases).where(serve_leases.c.name == name))


def _judge(
    report: DrillReport,
    problems: list[str],
    marks: list[Mark],
    archived: int | None,
    restored: datetime | None,
    rto: float,
) -> None:
    last = marks[-1].at
    in_archive = [m.at for m in marks if archived is not None and m.lsn <= archived]
    # Nothing archived at the loss: everything since the first mark is lost (at least).
    held = max(in_archive, default=None)
    rpo = (last - (held or marks[0].at)).total_seconds()
    report.rto_seconds, report.rpo_seconds = round(rto, 3), round(max(rpo, 0.0), 3)
    report.figures["marks"] = len(marks)
    if restored is not None:
        report.figures["restored_rpo_seconds"] = round((last - restored).total_seconds(), 3)
    rpo_goal, rto_goal = report.targets.rpo.total_seconds(), report.targets.rto.total_seconds()
    report.judge(
        {
            f"RTO {rto:.1f}s within {rto_goal:.0f}s": rto <= rto_goal,
            f"RPO {rpo:.2f}s within {rpo_goal:.0f}s (archive_timeout + slack)": held is not None
            and rpo <= rpo_goal,
            "the restore holds every mark archived at the loss": held is not None
            and restored is not None
            and restored >= held,
            "the restored metadata DB passes validation": not problems,
        }
    )
    report.failures += [f"validation: {p}" for p in problems]
