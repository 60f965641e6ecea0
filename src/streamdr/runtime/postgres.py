"""Running a PostgreSQL cluster's own binaries (pg_ctl, initdb) with timeouts.

One implementation for production (the metadata DB's restore) and the test and drill rig
(``harness.local_postgres``). When streamdr runs as root, PostgreSQL refuses to run, so each
command can go through ``runuser`` as the cluster's OS user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from streamdr.errors import StateError, UnreachableError

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "Run scripts/ensure-debian-packages (installs postgresql), or `make setup`."
STATUS_TIMEOUT = 30.0
STOP_TIMEOUT = 120.0
# pg_ctl -w -t N waits N seconds itself; the subprocess gets a margin on top of it.
START_MARGIN = 30.0


def as_user(user: str | None, cmd: list[str]) -> list[str]:
    """Return ``cmd`` run as ``user`` through runuser, or unchanged when ``user`` is None."""
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def give_to_user(user: str | None, path: Path, *, hint: str) -> None:
    """Hand ``path`` to OS user ``user`` (nothing when None); the cluster runs as that user.

    Raises StateError (with ``hint``) when the user does not exist.
    """
    if user is None:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise StateError(f"OS user {user!r} does not exist", hint=hint) from exc
    os.chown(path, entry.pw_uid, entry.pw_gid)


def bin_candidates(name: str, bin_dir: str | None, installed: Iterable[Path]) -> list[Path]:
    """Return where to look for ``name``: ``bin_dir`` alone, else installed dirs newest first."""
    if bin_dir:
        return [Path(bin_dir) / name]
    return [d / name for d in sorted(installed, key=_major_version, reverse=True)]


def _major_version(directory: Path) -> int:
    name = directory.parent.name  # /usr/lib/postgresql/<major>/bin
    return int(name) if name.isdigit() else 0


def find_pg_bin(name: str, bin_dir: str | None = None, *, hint: str = INSTALL_HINT) -> str:
    """Return the path of PostgreSQL binary ``name``; raises StateError when not installed.

    With ``bin_dir`` only that directory counts; otherwise the newest Debian install, then PATH.
    """
    installed = Path("/").glob(PG_BIN_GLOB.lstrip("/"))
    for candidate in bin_candidates(name, bin_dir, installed):
        if candidate.is_file():
            return str(candidate)
    found = None if bin_dir else shutil.which(name)
    if found:
        return found
    raise StateError(f"PostgreSQL's {name} is not installed", hint=hint)


def last_words(done: subprocess.CompletedProcess[str], limit: int = 400) -> str:
    """Return the tail of a command's error output (stdout when stderr is empty)."""
    return (done.stderr or done.stdout or "").strip()[-limit:]


@dataclass(frozen=True)
class PgCluster:
    """The cluster in ``data``: its binaries (``bin_dir`` or the newest installed) and OS user."""

    data: Path
    user: str | None = None
    bin_dir: str | None = None
    not_installed_hint: str = INSTALL_HINT

    def run(
        self, binary: str, *args: str, timeout: float, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``binary`` (pg_ctl, initdb, …) with ``args``; return the finished process.

        Raises StateError when the binary is missing, UnreachableError on timeout.
        """
        path = find_pg_bin(binary, self.bin_dir, hint=self.not_installed_hint)
        try:
            return subprocess.run(
                as_user(self.user, [path, *args]),
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise UnreachableError(
                f"{binary} {args[-1] if args else ''} on {self.data} did not finish "
                f"within {timeout:.0f}s",
                hint="See the cluster's log; a recovery may still be replaying WAL.",
            ) from exc

    def running(self) -> bool:
        """Return True when a postmaster runs on the data directory."""
        done = self.run("pg_ctl", "-D", str(self.data), "status", timeout=STATUS_TIMEOUT)
        return done.returncode == 0

    def start(
        self,
        log: Path,
        timeout: float,
        *,
        env: dict[str, str] | None = None,
        hint: str = "",
        server_options: str = "",
    ) -> None:
        """Start the cluster with its log in ``log`` and wait up to ``timeout`` s for it.

        ``server_options`` (pg_ctl ``-o``) override settings of the data directory's own files.
        Raises UnreachableError (with ``hint``, else "see the log") when it does not start.
        """
        extra = ("-o", server_options) if server_options else ()
        args = ("-D", str(self.data), "-l", str(log), *extra)
        args = (*args, "-w", "-t", str(int(timeout)), "start")
        done = self.run("pg_ctl", *args, timeout=timeout + START_MARGIN, env=env)
        if done.returncode != 0:
            raise UnreachableError(
                f"PostgreSQL on {self.data} did not start: {last_words(done)}",
                hint=hint or f"See {log}.",
            )

    def stop(self, mode: str = "fast") -> bool:
        """Stop the cluster (``fast``, or ``immediate``: a crash); return whether it ran.

        Raises StateError when pg_ctl stop fails.
        """
        if not self.data.is_dir() or not self.running():
            return False
        args = ("-D", str(self.data), "-m", mode, "-w", "stop")
        done = self.run("pg_ctl", *args, timeout=STOP_TIMEOUT)
        if done.returncode != 0:
            raise StateError(
                f"pg_ctl stop on {self.data} failed: {last_words(done)}",
                hint="Stop it by hand (pg_ctl -D <data> -m fast stop) and look at its log.",
            )
        return True
