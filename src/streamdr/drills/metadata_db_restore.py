"""Drill ``metadata-db-restore``: lose the SQLite metadata DB under load, restore, resume.

With ``metadata_db.pgbackrest`` configured the drill is the PostgreSQL one instead
(:mod:`streamdr.drills.metadata_db_restore_pg`: the live DB's newest backup + WAL restored
into a scratch cluster beside it). Without it, the SQLite drill below:

Runs in a throw-away directory with its own settings: a `streamdr serve` writes job history
(a heartbeat job several times a second) into a SQLite metadata DB that Litestream replicates
to a directory. The disk is then lost: serve and its Litestream are killed (-9) and the DB
file with its WAL is deleted. The drill restores the latest point from the replica (staging
file, validation, rename), starts serve again and waits for a new job run.

RPO: the committed rows of the lost file (read just before deleting it) that the restore lacks,
as the time between the newest committed row and the newest restored one. RTO: from the
deletion until the resumed serve has recorded a new successful run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from streamdr.clock import as_utc, utcnow
from streamdr.drills.context import DrillContext
from streamdr.drills.metadata_db_restore_pg import run_pg_drill
from streamdr.drills.report import DrillReport
from streamdr.errors import StateError
from streamdr.harness.polling import wait_for
from streamdr.harness.processes import ChildProcesses, probe, streamdr_command
from streamdr.metadb.litestream import pick, prepare
from streamdr.metadb.restore import execute_restore, plan_metadb_restore
from streamdr.policy.tiers import Targets
from streamdr.runtime.ports import free_ports
from streamdr.settings import load_settings
from streamdr.settings.model import Settings

TARGETS = Targets(rpo=timedelta(seconds=5), rto=timedelta(seconds=60))
START_TIMEOUT = 180.0  # a loaded host needs a while to import and start serve
DB_FILE = "meta.db"
SETTINGS = f"""\
sites:
  drill:
    bootstrap_servers: localhost:1
metadata_db:
  url: sqlite:///{DB_FILE}
  backup:
    replicas:
      - name: local
        path: replica
        sync_interval_seconds: 0.5
schedule:
  lease_seconds: 3
  jobs:
    load:
      kind: heartbeat
      every: 0.2
"""

Rows = dict[int, datetime]


class MetadataDbRestoreDrill:
    """Destroy the SQLite metadata DB under load, restore from Litestream, resume serve."""

    name = "metadata-db-restore"
    description = (
        "Lose the SQLite metadata DB under serve's load; Litestream restore; RTO<60s RPO<5s "
        "(PostgreSQL + pgBackRest: restore beside the live DB, RPO<archive_timeout+5s)"
    )
    targets = TARGETS

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill (PostgreSQL when pgBackRest is configured) and fill ``report``."""
        if ctx.settings.metadata_db.pgbackrest is not None:
            return run_pg_drill(ctx, report)
        root = Path(tempfile.mkdtemp(prefix="streamdr-drill-metadb-"))
        children = ChildProcesses(root / "logs")
        try:
            settings, port = self._prepare(report, root, children)
            committed, destroyed = self._destroy(report, root, settings, children)
            restored = self._restore(report, settings)
            resumed = self._resume(report, root, settings, children, port, max(restored))
            self._judge(report, committed, restored, resumed - destroyed)
        finally:
            children.stop_all(grace=15)
            _kill_litestream(root)
            shutil.rmtree(root, ignore_errors=True)
        return report

    def _prepare(
        self, report: DrillReport, root: Path, children: ChildProcesses
    ) -> tuple[Settings, int]:
        with report.step("prepare: serve with Litestream writing job history under load") as st:
            config = root / "streamdr.yaml"
            config.write_text(SETTINGS)
            settings = load_settings(config)
            port = free_ports(1)[0]
            _start_serve(children, config, port)
            db = settings.base_dir() / DB_FILE
            wait_for(lambda: len(_rows(db)) >= 25, 60, "25 job runs under load")
            st.detail = f"serve on port {port}, {len(_rows(db))} job runs so far"
        return settings, port

    def _destroy(
        self, report: DrillReport, root: Path, settings: Settings, children: ChildProcesses
    ) -> tuple[Rows, float]:
        with report.step("disk lost: kill -9 serve and Litestream, delete the DB and WAL") as st:
            children.stop(["serve"], signal.SIGKILL)
            _kill_litestream(root)
            db = settings.base_dir() / DB_FILE
            committed = _rows(db)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            destroyed = time.monotonic()
            st.detail = f"{len(committed)} committed job-run rows lost with the file"
        return committed, destroyed

    def _restore(self, report: DrillReport, settings: Settings) -> Rows:
        with report.step("restore the latest point from the replica and validate") as st:
            db = settings.base_dir() / DB_FILE
            runtime = pick(prepare(settings, db), "local")
            plan = plan_metadb_restore(db, runtime, None, None, utcnow(), target_exists=False)
            result = execute_restore(settings, plan, runtime)
            restored = _rows(db)
            st.detail = f"{len(restored)} rows in {result.seconds:.2f}s; {result.integrity.fixed}"
            report.figures["restore_seconds"] = round(result.seconds, 3)
        if not restored:
            raise StateError("the restore holds no job run", hint="See the drill's Litestream log.")
        return restored

    def _resume(
        self,
        report: DrillReport,
        root: Path,
        settings: Settings,
        children: ChildProcesses,
        port: int,
        last_restored: int,
    ) -> float:
        with report.step("resume serve on the restored DB; wait for a new run") as st:
            _start_serve(children, root / "streamdr.yaml", port)
            db = settings.base_dir() / DB_FILE
            wait_for(lambda: max(_rows(db), default=0) > last_restored, START_TIMEOUT, "a new run")
            resumed = time.monotonic()
            st.detail = f"/ready {probe(port, '/ready')[0]}"
        return resumed

    def _judge(self, report: DrillReport, committed: Rows, restored: Rows, rto: float) -> None:
        lost = sorted(set(committed) - set(restored))
        newest_restored = max(restored.values())
        rpo = (max(committed.values()) - newest_restored).total_seconds() if lost else 0.0
        report.rto_seconds, report.rpo_seconds = round(rto, 3), round(max(rpo, 0.0), 3)
        report.figures.update(
            committed_rows=len(committed), restored_rows=len(restored), lost_rows=len(lost)
        )
        report.judge(
            {
                f"RTO {rto:.1f}s within {TARGETS.rto.total_seconds():.0f}s": rto
                <= TARGETS.rto.total_seconds(),
                f"RPO {rpo:.2f}s within {TARGETS.rpo.total_seconds():.0f}s": rpo
                <= TARGETS.rpo.total_seconds(),
                "only a tail was lost, no hole": all(i > max(restored) for i in lost),
            }
        )


def _start_serve(children: ChildProcesses, config: Path, port: int) -> None:
    children.spawn("serve", streamdr_command(config, ["serve", "--port", str(port)]))
    wait_for(
        lambda: probe(port, "/health")[1].get("role") == "leader", START_TIMEOUT, "serve to lead"
    )


def _rows(db: Path) -> Rows:
    """Return ``{id: newest time}`` of every job-run row committed in ``db`` (empty if none)."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT id, started_at, finished_at FROM job_runs").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return {i: as_utc(datetime.fromisoformat(done or start)) for i, start, done in rows}


def _kill_litestream(root: Path) -> None:
    """SIGKILL the litestream processes whose config lies under ``root`` (ours, no others)."""
    marker = str(root).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"litestream" in cmdline and marker in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
