"""A local PostgreSQL cluster (initdb + pg_ctl) on loopback, for tests, drills and the demo.

PostgreSQL refuses to run as root, so when streamdr runs as root the cluster belongs to the
``postgres`` OS user (created by Debian's postgresql package) and every command goes through
``runuser``; its data directory is created for that user and must be reachable by it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from streamdr.errors import StateError, UnreachableError

PG_USER = "postgres"
BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)
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


def pg_bin(name: str) -> str:
    """Return the path of a PostgreSQL server binary; raises StateError when not installed."""
    for directory in BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise StateError(
        f"PostgreSQL's {name} is not installed",
        hint="Run scripts/ensure-debian-packages (installs postgresql), or `make setup`.",
    )


class LocalPostgres:
    """One PostgreSQL cluster in ``data_dir`` listening on ``127.0.0.1:port``."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_file = data_dir.parent / f"{data_dir.name}.log"
        self.as_root = os.geteuid() == 0

    def dsn(self, dbname: str = "postgres") -> str:
        """Return a libpq connection string for ``dbname`` (trust auth on loopback)."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", PG_USER, "--", *args] if self.as_root else list(args)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def _owned_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            try:
                user = pwd.getpwnam(PG_USER)
            except KeyError as exc:
                raise StateError(
                    f"running as root needs the {PG_USER!r} OS user to run PostgreSQL",
                    hint="Install the postgresql Debian package (scripts/ensure-debian-packages).",
                ) from exc
            os.chown(path, user.pw_uid, user.pw_gid)

    def init(self) -> LocalPostgres:
        """Create the cluster (once) with logical decoding enabled; return self."""
        if (self.data_dir / "PG_VERSION").exists():
            return self
        self._owned_dir(self.data_dir.parent)
        self._owned_dir(self.data_dir)
        done = self._run(
            pg_bin("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
        )
        if done.returncode != 0:
            raise StateError(
                f"initdb in {self.data_dir} failed: {done.stderr.strip()[-400:]}",
                hint=f"The {PG_USER} user must be able to reach {self.data_dir} when run as root.",
            )
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(CONF.format(port=self.port, sockets=self.data_dir))
        return self

    def running(self) -> bool:
        """Return True when the postmaster runs."""
        return self._run(pg_bin("pg_ctl"), "-D", str(self.data_dir), "status").returncode == 0

    def start(self, timeout: float = 60) -> None:
        """Start the cluster and wait until it accepts connections."""
        if self.running():
            return
        if self.as_root:
            self._owned_dir(self.log_file.parent)
            self.log_file.touch()
            user = pwd.getpwnam(PG_USER)
            os.chown(self.log_file, user.pw_uid, user.pw_gid)
        done = self._run(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 10,
        )
        if done.returncode != 0:
            raise UnreachableError(
                f"PostgreSQL in {self.data_dir} did not start: {done.stderr.strip()[-300:]}",
                hint=f"See {self.log_file}.",
            )

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (``fast``; ``immediate`` is a crash that recovers from WAL)."""
        if self.running():
            self._run(pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

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
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)
