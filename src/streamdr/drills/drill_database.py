"""The PostgreSQL server a pipeline drill creates its database on, and its faults.

On the lab: a fresh local cluster per run (initdb + pg_ctl, as the ``postgres`` user when
streamdr runs as root). Elsewhere: a configured postgres source with ``fault_injection``
commands to stop and start the server.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import psycopg

from streamdr.drills.context import DrillContext
from streamdr.errors import InputError, StateError, UnreachableError
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
        """Drop the drill databases (configured server) or remove the local cluster.

        On a configured server each database's replication slots go first (a slot left by CDC
        makes DROP DATABASE fail). Raises UnreachableError when the server cannot be reached,
        StateError naming every slot or database that could not be dropped.
        """
        if self.local is not None:
            self.local.destroy()
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            return
        try:
            with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                problems = drop_databases(conn, dbnames)
        except psycopg.Error as exc:
            raise UnreachableError(
                f"cannot connect to drop the drill databases {', '.join(dbnames)}: {exc}",
                hint="Drop them by hand (DROP DATABASE … WITH (FORCE)) when the server is back.",
            ) from exc
        if problems:
            raise StateError(
                "drill clean-up left objects behind: " + "; ".join(problems),
                hint="Drop them by hand: SELECT pg_drop_replication_slot(name), then "
                "DROP DATABASE … WITH (FORCE); a slot left behind keeps WAL on the server.",
            )


class Connection(Protocol):
    """The part of a psycopg connection the clean-up uses."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


SLOT_RELEASE_ATTEMPTS = 25
SLOTS_OF = "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = %s"


def drop_databases(conn: Connection, dbnames: Iterable[str]) -> list[str]:
    """Drop each database's replication slots, then the database; return what failed.

    Every database is tried even when an earlier one fails, so one leftover does not hide
    another. Returns one line per slot or database that could not be dropped.
    """
    problems: list[str] = []
    for dbname in dbnames:
        slot_problems = _drop_slots(conn, dbname)
        problems += slot_problems
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        except psycopg.Error as exc:
            problems.append(f"database {dbname}: {_first_line(exc)}")
    return problems


def _drop_slots(conn: Connection, dbname: str) -> list[str]:
    problems = []
    try:
        slots = conn.execute(SLOTS_OF, (dbname,)).fetchall()
    except psycopg.Error as exc:
        return [f"slots of {dbname}: {_first_line(exc)}"]
    for name, active_pid in slots:
        try:
            if active_pid is not None:  # a CDC reader that did not stop still holds it
                conn.execute("SELECT pg_terminate_backend(%s)", (active_pid,))
            _drop_slot(conn, name, retry=active_pid is not None)
        except psycopg.Error as exc:
            problems.append(f"slot {name} on {dbname}: {_first_line(exc)}")
    return problems


def _drop_slot(conn: Connection, name: str, *, retry: bool) -> None:
    # A terminated walsender releases its slot a moment later; until then the drop is refused.
    for _ in range(SLOT_RELEASE_ATTEMPTS - 1 if retry else 0):
        try:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            return
        except psycopg.errors.ObjectInUse:
            time.sleep(0.2)
    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _shell(command: str) -> None:
    done = subprocess.run(
        command, shell=True, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise StateError(
            f"fault command failed ({done.returncode}): {command}: {done.stderr.strip()[-300:]}"
        )
