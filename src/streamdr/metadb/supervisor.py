"""Keeping one ``litestream replicate`` process per replica alive while serve runs."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from pathlib import Path

from streamdr.metadb.litestream import ReplicaRuntime, child_env, replicate_command

log = logging.getLogger(__name__)

RESTART_INITIAL = 1.0
RESTART_MAX = 30.0
STOP_GRACE = 10.0


class LitestreamSupervisor:
    """Starts the replicate processes and restarts any that exits, with backoff."""

    def __init__(self, replicas: list[ReplicaRuntime], check_every: float = 1.0) -> None:
        self.replicas = replicas
        self.check_every = check_every
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {r.place.name: 0 for r in replicas}
        self._next_start: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="litestream")

    def start(self) -> LitestreamSupervisor:
        """Start every replicate process and the watcher; return self."""
        for runtime in self.replicas:
            self._spawn(runtime)
        self._thread.start()
        return self

    def _spawn(self, runtime: ReplicaRuntime) -> None:
        log_path = Path(runtime.config).parent / "litestream.log"
        with log_path.open("ab") as out:
            self.procs[runtime.place.name] = subprocess.Popen(
                replicate_command(runtime),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(runtime.place),
                start_new_session=True,
            )

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every):
            for runtime in self.replicas:
                self._revive(runtime)

    def _revive(self, runtime: ReplicaRuntime) -> None:
        """Restart ``runtime``'s process if it exited, waiting longer after each restart."""
        name = runtime.place.name
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            return
        now = self._clock()
        due = self._next_start.setdefault(name, now + self._backoff(name))
        if now < due:
            return
        log.warning("litestream for replica %s exited (%s); restarting", name, proc and proc.poll())
        self.restarts[name] += 1
        self._next_start.pop(name, None)
        self._spawn(runtime)

    def _backoff(self, name: str) -> float:
        return min(RESTART_MAX, RESTART_INITIAL * 2 ** self.restarts[name])

    @staticmethod
    def _clock() -> float:
        return time.monotonic()

    def running(self) -> dict[str, bool]:
        """Return per replica whether its process runs."""
        return {name: p.poll() is None for name, p in self.procs.items()}

    def stop(self) -> None:
        """Stop the watcher, then SIGTERM every process (Litestream syncs on the way out)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
