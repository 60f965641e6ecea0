"""Child processes of a drill, the demo or a test: spawned by key, logged, stopped or killed.

Each child runs in its own session (a Ctrl-C of the caller is not the child's), appends stdout
and stderr to ``<logs>/<log>.log`` and is stopped with a signal, then SIGKILL after a grace
period. ``stop(keys, signal.SIGKILL)`` is the crash (kill -9) the drills inject.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from streamdr.errors import StateError
from streamdr.harness.polling import wait_for
from streamdr.pipeline.cdc.reader import ALERT_MARK


def streamdr_command(config: Path, args: list[str]) -> list[str]:
    """Return the command line of ``streamdr --config CONFIG ARGS…`` in this interpreter."""
    return [sys.executable, "-m", "streamdr", "--config", str(config), *args]


class ChildProcesses:
    """Children by key, logging under ``logs``, started with ``env`` on top of ours."""

    def __init__(
        self, logs: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.logs, self.env, self.cwd = logs, dict(env or {}), cwd
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, key: str, cmd: list[str], *, log: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``cmd`` as child ``key``, appending output to ``<logs>/<log or key>.log``.

        Returns the child; raises OSError when it cannot be started.
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{log or key}.log").open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.procs[key] = proc
        return proc

    def running(self, key: str) -> bool:
        """Return True while the child ``key`` runs."""
        proc = self.procs.get(key)
        return proc is not None and proc.poll() is None

    def wait_while_running(
        self, key: str, predicate: Callable[[], bool], timeout: float, what: str
    ) -> None:
        """Poll ``predicate`` until true while child ``key`` runs.

        Raises StateError at once when the child exits first (naming its exit code and the last
        ``Error:`` line of its log), or after ``timeout`` seconds.
        """

        def done() -> bool:
            if predicate():
                return True
            proc = self.procs.get(key)
            if proc is None or proc.poll() is not None:
                raise StateError(
                    f"{key} exited (code {proc.returncode if proc else 'unknown'}) before "
                    f"{what}: {self.last_error(key) or 'no error line in its log'}",
                    hint=f"See {self.logs / (key + '.log')}.",
                )
            return False

        wait_for(done, timeout, what)

    def last_error(self, key: str) -> str | None:
        """Return the last ``Error: …`` line child ``key`` logged (printable ASCII), if any."""
        path = self.logs / f"{key}.log"
        if not path.exists():
            return None
        errors = [ln for ln in path.read_text(errors="replace").splitlines() if "Error:" in ln]
        if not errors:
            return None
        line = errors[-1][errors[-1].index("Error:") :]
        return "".join(c if c.isprintable() else "?" for c in line)[:400]

    def stop(
        self, keys: list[str], sig: signal.Signals = signal.SIGTERM, grace: float = 30.0
    ) -> None:
        """Signal every child in ``keys`` at once; SIGKILL any still alive after ``grace`` s."""
        procs = [p for p in (self.procs.pop(k, None) for k in keys) if p and p.poll() is None]
        for proc in procs:
            proc.send_signal(sig)
        # One deadline for all: stopping n children takes ``grace``, not n times ``grace``.
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def stop_all(self, grace: float = 30.0) -> None:
        """Stop every child (SIGTERM, then SIGKILL after ``grace`` s)."""
        self.stop(list(self.procs), grace=grace)

    def alerts(self) -> list[str]:
        """Return every alert the children logged so far (see :func:`alerts_in`)."""
        return alerts_in(self.logs)


def alerts_in(logs: Path) -> list[str]:
    """Return the alerts logged in ``logs/*.log`` as ``<process>: <alert text>``, file by file."""
    out = []
    for path in sorted(logs.glob("*.log")) if logs.exists() else []:
        for line in path.read_text(errors="replace").splitlines():
            if ALERT_MARK in line:
                out.append(f"{path.stem}: {line.split(ALERT_MARK, 1)[1]}")
    return out


def probe(port: int, path: str = "/ready") -> tuple[int, dict[str, Any]]:
    """Return (status, JSON body) of a worker probe, or (0, {}) when it does not answer.

    ``/metrics`` is text: its body comes back as ``{"text": …}``.
    """
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    except httpx.HTTPError:
        return 0, {}
    if path == "/metrics":
        return resp.status_code, {"text": resp.text}
    try:
        body = resp.json()
    except ValueError:
        return 0, {}
    return resp.status_code, body if isinstance(body, dict) else {}
