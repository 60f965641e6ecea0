"""A local PostgreSQL cluster (initdb + pg_ctl) on loopback, for tests, drills and the demo.

PostgreSQL refuses to run as root, so when streamdr runs as root the cluster belongs to the
``postgres`` OS user (created by Debian's postgresql package) and every command goes through
``runuser``; its data directory is created for that user and must be reachable by it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

from streamdr.errors import StateError
from streamdr.runtime.postgres import PgCluster, give_to_user, last_words

PG_USER = "postgres"
INITDB_TIMEOUT = 120.0
# As root, PostgreSQL runs as the postgres OS user that Debian's package creates.
NO_PG_USER_HINT = "Install the postgresql Debian package (scripts/ensure-debian-packages)."
# 40 slots: one test session shares a cluster among many workflows and drills, each with its
# own slot, and a failed test may leave its slot behind (10 ran out in a long session).
CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
wal_level = logical
max_replication_slots = 40
max_wal_senders = 40
shared_buffers = 64MB
fsync = on
logging_collector = off
"""


class LocalPostgres:
    """One PostgreSQL cluster in ``data_dir`` listening on ``127.0.0.1:port``."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_file = data_dir.parent / f"{data_dir.name}.log"
        self.as_root = os.geteuid() == 0
        self.cluster = PgCluster(data_dir, PG_USER if self.as_root else None)

    def dsn(self, dbname: str = "postgres") -> str:
        """Return a libpq connection string for ``dbname`` (trust auth on loopback)."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def _owned_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        give_to_user(self.cluster.user, path, hint=NO_PG_USER_HINT)

    def init(self) -> LocalPostgres:
        """Create the cluster (once) with logical decoding enabled; return self."""
        if (self.data_dir / "PG_VERSION").exists():
            return self
        self._owned_dir(self.data_dir.parent)
        self._owned_dir(self.data_dir)
        done = self.cluster.run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
            timeout=INITDB_TIMEOUT,
        )
        if done.returncode != 0:
            raise StateError(
                f"initdb in {self.data_dir} failed: {last_words(done)}",
                hint=f"The {PG_USER} user must be able to reach {self.data_dir} when run as root.",
            )
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(CONF.format(port=self.port, sockets=self.data_dir))
        return self

    def running(self) -> bool:
        """Return True when the postmaster runs."""
        return self.cluster.running()

    def start(self, timeout: float = 60) -> None:
        """Start the cluster and wait until it accepts connections; raises UnreachableError."""
        if self.running():
            return
        if self.as_root:
            self._owned_dir(self.log_file.parent)
            self.log_file.touch()
            give_to_user(self.cluster.user, self.log_file, hint=NO_PG_USER_HINT)
        self.cluster.start(self.log_file, timeout)

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (``fast``; ``immediate`` is a crash that recovers from WAL).

        Raises StateError when pg_ctl stop fails.
        """
        self.cluster.stop(mode)

    def kill(self) -> None:
        """SIGKILL the postmaster (its children exit when they notice)."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it exists."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        """Stop the cluster and remove its directory."""
        # Best effort: the directory goes either way, and a cluster that will not stop is
        # reported by stop() where a caller asks for it.
        with contextlib.suppress(StateError):
            self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)
