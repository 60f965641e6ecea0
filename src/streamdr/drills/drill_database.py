"""The PostgreSQL server a pipeline drill creates its database on, and its faults.

On the lab: a fresh local cluster per run (initdb + pg_ctl, as the ``postgres`` user when
streamdr runs as root). Elsewhere: a configured postgres source with ``fault_injection``
commands to stop and start the server.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from streamdr.drills.context import DrillContext
from streamdr.errors import InputError, StateError
from streamdr.harness.local_postgres import LocalPostgres
from streamdr.runtime.ports import free_ports


class DrillDatabase:
    """The PostgreSQL server a drill creates its database on, and how to stop and start it."""

    def __init__(self, ctx: DrillContext) -> None:
        configured = [
            s
            for s in ctx.settings.sources.values()
            if s.kind == "postgres" and s.fault_injection is not None
        ]
        self.local: LocalPostgres | None = None
        self.source = configured[0] if configured else None
        self.root: Path | None = None
        if self.source is None and not ctx.settings.sites[ctx.site].lab:
            raise InputError(
                f"site {ctx.site!r} is not a lab site and no postgres source has fault_injection",
                hint="Add sources.<name>.fault_injection.stop/start (and a dsn whose user may "
                "CREATE DATABASE) to streamdr.yaml, or drill on the lab.",
            )

    def start(self) -> None:
        """Start a local cluster (lab) or check the configured server answers."""
        if self.source is None:
            self.root = Path(tempfile.mkdtemp(prefix="streamdr-drill-pg-"))
            self.root.chmod(0o755)  # the postgres OS user must reach it when we run as root
            self.local = LocalPostgres(self.root / "data", free_ports(1)[0])
            self.local.init()
            self.local.start()

    def dsn(self, dbname: str) -> str:
        """Return the connection string of ``dbname`` on this server."""
        if self.local is not None:
            return self.local.dsn(dbname)
        assert self.source is not None and self.source.dsn
        return psycopg.conninfo.make_conninfo(self.source.dsn, dbname=dbname)

    def password_env(self) -> str | None:
        """Return the environment variable of the configured server's password, if any."""
        return self.source.password_env if self.source else None

    def stop(self) -> None:
        """Crash the server (immediate shutdown; WAL recovery on start)."""
        if self.local is not None:
            self.local.stop("immediate")
        else:
            _shell(self.source.fault_injection.stop)  # type: ignore[union-attr]

    def start_again(self) -> None:
        """Start the server after :meth:`stop`."""
        if self.local is not None:
            self.local.start()
        else:
            _shell(self.source.fault_injection.start)  # type: ignore[union-attr]

    def close(self, *dbnames: str) -> None:
        """Drop the drill databases (configured server) or remove the local cluster."""
        if self.local is not None:
            self.local.destroy()
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            return
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.dsn("postgres"), autocommit=True) as conn,
        ):
            for dbname in dbnames:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _shell(command: str) -> None:
    done = subprocess.run(
        command, shell=True, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise StateError(
            f"fault command failed ({done.returncode}): {command}: {done.stderr.strip()[-300:]}"
        )
