"""Building a pipeline environment inside a test: database, source, settings, endpoint, workers.

Every test gets its own database, topic prefix and workflow names (uuid), on the session lab and
the session PostgreSQL. A thin wrapper over :mod:`streamdr.harness` (child processes, load,
ledger, polling, source database), which the drills use too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from streamdr.harness.derived_settings import derive, write_settings
from streamdr.harness.ledger import Identity, duplicates_applied, identities
from streamdr.harness.load import Load
from streamdr.harness.local_postgres import LocalPostgres
from streamdr.harness.polling import poll_until, wait_for
from streamdr.harness.processes import ChildProcesses, probe, streamdr_command
from streamdr.harness.source_db import create_change_table, slot_exists
from streamdr.pipeline.cdc.service import build_reader, run_cdc
from streamdr.pipeline.endpoint.server import EndpointProcess
from streamdr.runtime.ports import free_ports
from streamdr.settings.model import Settings, SourceSettings
from streamdr.workflows.model import Workflow

__all__ = ["PipelineEnv", "Writer", "duplicates_applied", "probe", "wait_until"]
SECRET_ENV = "STREAMDR_TEST_SIGNING_SECRET"
SECRET = "test-secret-" + uuid.uuid4().hex[:8]
os.environ[SECRET_ENV] = SECRET
ROOT = Path(__file__).resolve().parents[2]
TABLE = "items"


@dataclass
class PipelineEnv:
    """One test's pipeline: a database with table ``items``, a source, settings, an endpoint."""

    pg: LocalPostgres
    base: Settings
    tmp: Path
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    stops: list[threading.Event] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    change_no: int = 0
    rows: dict[int, int] = field(default_factory=dict)  # id -> change_no of its current state
    lock: threading.Lock = field(default_factory=threading.Lock)
    readers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.db = f"t_{self.uid}"
        self.pg.create_database(self.db)
        # Updates and deletes of the tests carry whole old rows.
        create_change_table(self.pg.dsn(self.db), TABLE, full_identity=True)
        self.source = f"src-{self.uid}"
        self.prefix = f"t{self.uid}"
        self.settings = derive(
            self.base,
            sources={
                self.source: SourceSettings(
                    kind="postgres",
                    dsn=self.pg.dsn(self.db),
                    topic_prefix=self.prefix,
                    tables=["public.items"],
                )
            },
        )
        self.settings_file = write_settings(self.settings, self.tmp / "streamdr.yaml")
        self.topic = f"{self.prefix}.public.items"
        self.endpoint = EndpointProcess(
            free_ports(1)[0], self.tmp / "endpoint.db", secret_env=SECRET_ENV
        )
        env = {"STREAMDR_CONFIG": str(self.settings_file)}
        self.children = ChildProcesses(self.tmp, env, cwd=ROOT)

    # ----- workflow ------------------------------------------------------------------------
    def workflow(self, name: str = "wf", transform: str = "passthrough", **over: Any) -> Workflow:
        doc: dict[str, Any] = {
            "name": f"{name}-{self.uid}",
            "client": "client-a",
            "tier": "standard",
            "source": {"database": self.source, "tables": ["public.items"]},
            "transformation": {"name": transform, "version": "1.0.0"},
            "sink": {
                "kind": "http",
                "url": f"{self.endpoint.url}/events/{name}",
                "signing_secret_env": SECRET_ENV,
                "timeout_seconds": 5,
            },
            "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.2, "max_backoff_seconds": 1},
            "breaker": {"failure_threshold": 3, "reset_timeout_seconds": 2},
        }
        for key, value in over.items():
            doc[key] = {**doc[key], **value} if isinstance(doc.get(key), dict) else value
        return Workflow.model_validate(doc)

    def free_port(self) -> int:
        return free_ports(1)[0]

    # ----- source writes -------------------------------------------------------------------
    def write(
        self,
        inserts: int = 0,
        updates: list[int] | None = None,
        deletes: list[int] | None = None,
        start_id: int | None = None,
    ) -> set[Identity]:
        """Apply changes in one transaction; return their identities (op, id, change_no)."""
        with self.lock:
            return self._write(inserts, updates or [], deletes or [], start_id)

    def _write(
        self, inserts: int, updates: list[int], deletes: list[int], start_id: int | None
    ) -> set[Identity]:
        done: set[Identity] = set()
        first = start_id if start_id is not None else max(self.rows, default=0) + 1
        with psycopg.connect(self.pg.dsn(self.db), autocommit=False) as conn:
            for i in range(first, first + inserts):
                self.change_no += 1
                conn.execute("INSERT INTO items VALUES (%s, %s, 'n')", (i, self.change_no))
                done.add(("insert", i, self.change_no))
                self.rows[i] = self.change_no
            for i in updates:
                self.change_no += 1
                conn.execute(
                    "UPDATE items SET change_no = %s, note = 'u' WHERE id = %s", (self.change_no, i)
                )
                done.add(("update", i, self.change_no))
                self.rows[i] = self.change_no
            for i in deletes:
                conn.execute("DELETE FROM items WHERE id = %s", (i,))
                done.add(("delete", i, self.rows.pop(i)))
            conn.commit()
        return done

    # ----- processes -----------------------------------------------------------------------
    def start_cdc_thread(self) -> None:
        stop = threading.Event()
        reader = build_reader(self.settings, self.source, stop)
        self.readers.append(reader)
        thread = threading.Thread(target=run_cdc, args=(reader, stop, None), daemon=True)
        thread.start()
        self.stops.append(stop)
        self.threads.append(thread)
        self.wait_slot()

    def start_cdc_process(self) -> subprocess.Popen[bytes]:
        cmd = streamdr_command(self.settings_file, ["cdc", "run", self.source])
        proc = self._spawn(cmd, "cdc")
        self.wait_slot()
        return proc

    def wait_slot(self, timeout: float = 60) -> None:
        """Wait until CDC created its slot: only changes committed after that are captured."""
        dsn = self.pg.dsn(self.db)
        wait_for(lambda: slot_exists(dsn, self.db), timeout, "the CDC replication slot")

    def start_worker_process(
        self, workflows: list[Workflow], port: int = 0
    ) -> subprocess.Popen[bytes]:
        spec = self.tmp / f"worker-{uuid.uuid4().hex[:6]}.json"
        spec.write_text(
            json.dumps(
                {
                    "settings": str(self.settings_file),
                    "port": port,
                    "batch_size": 50,
                    "workflows": [w.model_dump(mode="json") for w in workflows],
                }
            )
        )
        return self._spawn([sys.executable, "-m", "tests.worker_main", str(spec)], "worker")

    def _spawn(self, cmd: list[str], log: str) -> subprocess.Popen[bytes]:
        # Several workers may share a log; each child still has its own key.
        return self.children.spawn(f"{log}-{uuid.uuid4().hex[:6]}", cmd, log=log)

    def close_threads(self) -> None:
        """Stop the in-process CDC readers and wait for them."""
        for stop in self.stops:
            stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        self.stops, self.threads = [], []

    def close(self) -> None:
        for stop in self.stops:
            stop.set()
        self.children.stop_all()
        for thread in self.threads:
            thread.join(timeout=30)
        self.endpoint.stop()

    # ----- verification --------------------------------------------------------------------
    def applied(self, channel: str | None = None) -> list[Identity]:
        """Return the identity of every event the endpoint applied (repeats included)."""
        return identities(self.endpoint.client.applied(channel))

    def wait_applied(
        self, expected: set[Identity], timeout: float = 90, channel: str | None = None
    ) -> list[Identity]:
        """Wait until every expected identity is applied; return all applied identities."""
        seen: list[Identity] = []

        def all_seen() -> bool:
            seen[:] = self.applied(channel)
            return expected <= set(seen)

        poll_until(all_seen, timeout)
        return seen


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.3) -> bool:
    """Poll ``predicate`` until true or ``timeout``; return its last value (tests poll faster)."""
    return poll_until(predicate, timeout, interval)


class Writer(Load[Identity]):
    """Commits ``batch`` inserts a transaction through ``env.write`` until stopped (steady load)."""

    def __init__(self, env: PipelineEnv, batch: int = 10, pause: float = 0.05) -> None:
        super().__init__(lambda: env.write(inserts=batch), 1.0 / pause, name="test-writer")

    @property
    def written(self) -> set[Identity]:
        """Return the identity of every acknowledged change so far."""
        return set(self.committed)

    def stop(self) -> set[Identity]:  # type: ignore[override]
        """Stop writing; return the identity of every acknowledged change."""
        return set(super().stop())
