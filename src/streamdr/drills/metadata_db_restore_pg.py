"""Drill ``metadata-db-restore`` on a PostgreSQL metadata DB backed up by pgBackRest.

Runs against the configured metadata DB without harming it: the drill writes acknowledged
marks into the live database for a few seconds (one row of ``serve_leases`` named
``drill-mark:…``, already expired so it holds nothing), then, as if the disk were lost at that
moment, restores the newest backup plus the archived WAL into a scratch cluster on its own port
(:mod:`streamdr.metadb.pg_scratch`), validates it and reads the newest mark it holds.

RPO: the last acknowledged mark in the live DB minus the newest one in the restored copy (what
the archive did not hold yet; bounded by ``archive_timeout_seconds``). RTO: from that moment
until the restored copy is promoted and validated. The scratch cluster and the mark are removed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from streamdr.clock import as_utc, utcnow
from streamdr.drills.context import DrillContext
from streamdr.drills.report import DrillReport
from streamdr.errors import InputError, StateError
from streamdr.metadb import pgbackrest
from streamdr.metadb.pg_scratch import (
    execute_scratch_restore,
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
    mark = f"drill-mark:{uuid.uuid4().hex[:12]}"
    # Writing for longer than the archive timeout: the first marks must be in the archive, so a
    # restore without any mark means archiving is broken, not that the drill was too quick.
    seconds = (report.targets.rpo + timedelta(seconds=1)).total_seconds()
    try:
        with report.step("acknowledged writes into the live metadata DB") as st:
            first, last = _write_marks(live, mark, seconds)
            lost_at = time.monotonic()
            st.detail = f"marks {mark} from {first.isoformat()} to {last.isoformat()}"
        with report.step("restore the newest backup + WAL into a scratch cluster, validate") as st:
            st.detail = f"plan: {plan.as_dict()['steps']}"
            url = scratch_url(live.url, plan.port)
            result = execute_scratch_restore(ctx.settings, rt, plan, url)
            rto = time.monotonic() - lost_at
            restored = _read_mark(url, mark)
            st.detail += f"; {result.as_dict()}"
        _judge(report, result.integrity.problems, first, last, restored, rto)
        report.figures.update(
            restore_seconds=round(result.restore_seconds, 3),
            recovery_seconds=round(result.recovery_seconds, 3),
        )
    finally:
        with report.step("stop and remove the scratch cluster, delete the mark") as st:
            remove_scratch(rt, plan)
            _delete_mark(live, mark)
            st.detail = f"removed {root}"
            shutil.rmtree(root, ignore_errors=True)
    return report


def _write_marks(store: MetadataStore, mark: str, seconds: float) -> tuple[datetime, datetime]:
    """Write the mark every MARK_INTERVAL for ``seconds``; return the first and last ack times."""
    first = utcnow()
    with store.begin() as conn:
        conn.execute(
            insert(serve_leases).values(
                name=mark, owner=MARK_OWNER, acquired_at=first, expires_at=first
            )
        )
    last = first
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(MARK_INTERVAL)
        now = utcnow()
        with store.begin() as conn:  # committed when the block ends: acknowledged after it
            conn.execute(
                update(serve_leases)
                .where(serve_leases.c.name == mark)
                .values(acquired_at=now, expires_at=now)
            )
        last = now
    return first, last


def _read_mark(url: str, mark: str) -> datetime | None:
    """Return the newest mark the restored copy holds (None when it has none)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                select(serve_leases.c.acquired_at).where(serve_leases.c.name == mark)
            ).scalar()
    except SQLAlchemyError as exc:
        raise StateError(
            f"the restored copy cannot be read: {str(exc).splitlines()[0]}",
            hint="See the scratch cluster's log in the step detail.",
        ) from exc
    finally:
        engine.dispose()
    return as_utc(value) if value is not None else None


def _delete_mark(store: MetadataStore, mark: str) -> None:
    with store.begin() as conn:
        conn.execute(delete(serve_leases).where(serve_leases.c.name == mark))


def _judge(
    report: DrillReport,
    problems: list[str],
    first: datetime,
    last: datetime,
    restored: datetime | None,
    rto: float,
) -> None:
    # No mark at all: everything written since the first one is lost (at least that much).
    rpo = (last - (restored or first)).total_seconds()
    report.rto_seconds, report.rpo_seconds = round(rto, 3), round(max(rpo, 0.0), 3)
    report.figures["mark_restored"] = restored is not None
    rpo_goal, rto_goal = report.targets.rpo.total_seconds(), report.targets.rto.total_seconds()
    report.judge(
        {
            f"RTO {rto:.1f}s within {rto_goal:.0f}s": rto <= rto_goal,
            f"RPO {rpo:.2f}s within {rpo_goal:.0f}s (archive_timeout + slack)": restored is not None
            and rpo <= rpo_goal,
            "the restored metadata DB passes validation": not problems,
        }
    )
    report.failures += [f"validation: {p}" for p in problems]
