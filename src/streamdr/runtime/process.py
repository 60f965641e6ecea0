"""Starting, finding and signalling marked local processes (lab JVMs, MM2, supervisors).

A lab JVM carries ``-Dstreamdr.lab=<lab dir>#<site>#<node>`` on its command line, so a PID is
trusted only when ``/proc/<pid>/cmdline`` still carries that marker (a stale PID file that now
names another process is ignored), and ``lab down`` can find JVMs whose PID file is gone.

Other processes tied to a lab use the same scheme with a role in place of the site:
``<lab dir>#mm2#<instance>-<target>`` for MirrorMaker 2 JVMs and
``<lab dir>#supervisor#<name>`` for the Python supervisors that restart them (a supervisor
passes the marker as a plain argument). ``lab down`` stops supervisors first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from streamdr.fsutil import atomic_write_text

PROC = Path("/proc")
SUPERVISOR = "supervisor"


def marker(lab_dir: Path, site: str, node: int | str) -> str:
    """Return the command-line marker of one lab process."""
    return f"{lab_dir}#{site}#{node}"


def _cmdline(pid: int) -> str | None:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else raw.replace(b"\0", b" ").decode(errors="replace")


def _reap(pid: int) -> None:
    # Children of this process (tests drive the lab in-process) linger as zombies until reaped.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(pid: int | None, mark: str) -> bool:
    """Return True when ``pid`` is alive and is the process carrying ``mark``."""
    if not pid:
        return False
    _reap(pid)
    cmd = _cmdline(pid)
    # Right after exec (the java launcher also re-execs itself) /proc/<pid>/cmdline can read
    # empty for a moment; a live process with no command line yet is asked again shortly.
    for _ in range(40):
        if cmd != "":
            break
        time.sleep(0.05)
        cmd = _cmdline(pid)
    return cmd is not None and f"-Dstreamdr.lab={mark} " in cmd + " "


def read_pid(pid_file: Path) -> int | None:
    """Return the PID in ``pid_file``, or None when missing or unreadable."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def write_pid(pid_file: Path, pid: int) -> None:
    """Write ``pid`` to ``pid_file`` atomically and durably."""
    atomic_write_text(pid_file, f"{pid}\n")


def spawn(cmd: list[str], *, cwd: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` detached in its own session, stdout and stderr appended to ``log_file``."""
    with log_file.open("ab") as log:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def find_marked(prefix: str) -> list[int]:
    """Return the PIDs of live processes whose marker starts with ``prefix``."""
    pids = []
    for entry in PROC.iterdir() if PROC.exists() else []:
        if entry.name.isdigit():
            cmd = _cmdline(int(entry.name))
            if cmd and f"-Dstreamdr.lab={prefix}" in cmd:
                pids.append(int(entry.name))
    return pids


def marker_of(pid: int) -> str | None:
    """Return the marker on ``pid``'s command line, or None."""
    cmd = _cmdline(pid) or ""
    for arg in cmd.split(" "):
        if arg.startswith("-Dstreamdr.lab="):
            return arg.split("=", 1)[1]
    return None


def signal_pid(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid``, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _exiting_or_alive(pid: int) -> bool:
    # An exiting process has released its memory (empty cmdline) before its sockets: it is
    # gone only once /proc no longer lists it, or lists it as a zombie.
    _reap(pid)
    return _cmdline(pid) is not None


def wait_gone(pid: int, mark: str, timeout: float) -> bool:
    """Return True once ``pid`` no longer runs, False if it still does after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid, mark) and not _exiting_or_alive(pid):
            return True
        time.sleep(0.1)
    return not is_running(pid, mark)


def stop(pid: int, mark: str, *, timeout: float = 30.0) -> None:
    """Stop ``pid`` with SIGTERM (controlled shutdown), then SIGKILL after ``timeout``."""
    if not is_running(pid, mark):
        return
    signal_pid(pid, signal.SIGTERM)
    if not wait_gone(pid, mark, timeout):
        signal_pid(pid, signal.SIGKILL)
        wait_gone(pid, mark, 10.0)


def kill(pid: int, mark: str) -> None:
    """SIGKILL ``pid`` (a crash, as in a drill) and wait until it is gone."""
    if is_running(pid, mark):
        signal_pid(pid, signal.SIGKILL)
        wait_gone(pid, mark, 10.0)
