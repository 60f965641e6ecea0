"""The MM2 supervisor: a small detached Python process that keeps MM2 JVMs running.

Run as ``python -m streamdr.replication.supervise RUN_DIR -Dstreamdr.lab=MARKER``; the marker
argument lets ``lab down`` and ``replicate stop`` find it like a lab JVM. It reads ``run.json``
(written atomically by :mod:`streamdr.replication.mm2.runner`), starts one MM2 JVM per child spec,
restarts a child that dies (backoff 1, 2, 4 … 30 s; reset after a minute of uptime), reloads when
``run.json`` changes (restarting only children whose spec changed), restarts the children a
``restart.json`` request names (see ``Mm2Runner.restart``), samples lag into ``lag.json`` in a
thread, and writes ``status.json`` every loop. SIGTERM stops every child, then itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamdr.fsutil import write_json_atomic
from streamdr.runtime import process

LOOP_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
STOP_TIMEOUT_S = 20.0
# A JVM being replaced by a reload gets less time: it may be stuck on a dead site.
RELOAD_STOP_S = 8.0
EVENTS_KEPT = 50
LOG = logging.getLogger("streamdr.mm2.supervisor")


@dataclass
class Child:
    """One supervised MM2 JVM and its restart bookkeeping."""

    spec: dict[str, Any]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float | None = None
    starts: int = 0
    next_start_at: float = 0.0
    backoff: float = 1.0
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    retiring_until: float | None = None
    successor: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, events: list[dict[str, Any]]) -> None:
        workdir = Path(self.spec["dir"])
        workdir.mkdir(parents=True, exist_ok=True)
        mark = str(self.spec["marker"])
        # A JVM left by a supervisor that was SIGKILLed would replicate with an old config.
        for pid in process.find_marked(mark):
            if process.is_running(pid, mark):
                process.kill(pid, mark)
        self.proc = process.spawn(self.spec["cmd"], cwd=workdir, log_file=workdir / "stdout.log")
        process.write_pid(workdir / "pid", self.proc.pid)
        self.started_at = time.time()
        self.starts += 1
        kind = "started" if self.starts == 1 else "restarted"
        LOG.info("%s %s (pid %s)", self.name, kind, self.proc.pid)
        events.append(
            {"at": self.started_at, "child": self.name, "event": kind, "pid": self.proc.pid}
        )

    def reap(self, events: list[dict[str, Any]], now: float) -> None:
        """Record an exit and schedule the restart with backoff."""
        assert self.proc is not None
        code = self.proc.returncode
        uptime = now - (self.started_at or now)
        if uptime > STABLE_AFTER_S:
            self.backoff = 1.0
        self.last_exit_code, self.last_exit_at = code, now
        self.next_start_at = now + self.backoff
        LOG.warning(
            "%s exited with code %s after %.1fs; restarting in %.0fs",
            self.name,
            code,
            uptime,
            self.backoff,
        )
        events.append(
            {
                "at": now,
                "child": self.name,
                "event": "died",
                "exit_code": code,
                "uptime_seconds": round(uptime, 1),
                "restart_in_seconds": self.backoff,
            }
        )
        self.backoff = min(BACKOFF_MAX_S, self.backoff * 2)
        self.proc = None

    def retire(self, successor: dict[str, Any] | None) -> None:
        """Begin replacing this JVM (by ``successor``'s spec, or by nothing)."""
        self.successor = successor
        self.retiring_until = time.time() + RELOAD_STOP_S
        self.terminate()

    def retired(self) -> bool:
        """Return True once a retiring JVM is gone (SIGKILLed after RELOAD_STOP_S)."""
        if self.proc is not None and self.proc.poll() is None:
            if time.time() < (self.retiring_until or 0):
                return False
            self.proc.kill()
            self.proc.wait(timeout=10)
        Path(self.spec["dir"], "pid").unlink(missing_ok=True)
        self.proc = None
        return True

    def terminate(self) -> None:
        """Ask the JVM to shut down (MM2 stops its herders on SIGTERM)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        """Terminate the JVM and wait; SIGKILL it after STOP_TIMEOUT_S."""
        if self.proc is None:
            return
        self.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        Path(self.spec["dir"], "pid").unlink(missing_ok=True)
        self.proc = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.spec.get("target"),
            "pid": self.proc.pid if self.running() and self.proc else None,
            "running": self.running(),
            "started_at": self.started_at,
            "restarts": max(0, self.starts - 1),
            "last_exit_code": self.last_exit_code,
            "last_exit_at": self.last_exit_at,
            "log": str(Path(self.spec["dir"]) / "server.log"),
        }


@dataclass
class Supervisor:
    """The loop over children; ``run()`` returns when stopped."""

    run_dir: Path
    children: dict[str, Child] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    generation: int = -1
    stopping: threading.Event = field(default_factory=threading.Event)
    config_mtime: int = -1
    kick_mtime: int = -1
    restart_mtime: int = -1
    started_at: float = field(default_factory=time.time)
    # Samples replication lag beside the JVMs (``lag.sampler.sample_once``); the entry point
    # ``replication.supervise`` passes it in, so MM2 code does not import the lag package.
    sample: Callable[[Path, dict[str, Any]], float] | None = None

    def load(self) -> dict[str, Any] | None:
        path = self.run_dir / "run.json"
        try:
            mtime = path.stat().st_mtime_ns
            if mtime == self.config_mtime:
                return None
            doc: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        self.config_mtime = mtime
        return doc

    def apply(self, doc: dict[str, Any]) -> None:
        """Bring the children in line with ``doc``: stop changed or removed ones, add new ones."""
        wanted = {c["name"]: c for c in doc.get("children", [])}
        for name, child in self.children.items():
            if wanted.get(name) != child.spec and child.successor != wanted.get(name):
                child.retire(wanted.get(name))
                self.events.append({"at": time.time(), "child": name, "event": "reloading"})
        for name, spec in wanted.items():
            self.children.setdefault(name, Child(spec))
        self.generation = int(doc.get("generation", 0))

    def check_kick(self) -> None:
        """Start children waiting out a backoff now (a site came back; see ``Mm2Runner.kick``)."""
        try:
            mtime = (self.run_dir / "kick").stat().st_mtime_ns
        except OSError:
            return
        if mtime == self.kick_mtime:
            return
        self.kick_mtime = mtime
        for child in self.children.values():
            if child.proc is None:
                child.next_start_at, child.backoff = 0.0, 1.0
        self.events.append({"at": time.time(), "child": "*", "event": "kicked"})

    def check_restart(self) -> None:
        """Restart the children a new ``restart.json`` names by target (same spec, new JVM)."""
        targets = self._restart_request()
        if targets is None:
            return
        for child in self.children.values():
            if child.spec.get("target") not in targets or child.retiring_until is not None:
                continue
            if child.proc is None:
                child.next_start_at, child.backoff = 0.0, 1.0
            else:
                child.retire(child.spec)
            self.events.append({"at": time.time(), "child": child.name, "event": "restarting"})

    def _restart_request(self) -> set[str] | None:
        """Return the targets of a restart request not seen yet (None when there is none)."""
        path = self.run_dir / "restart.json"
        try:
            mtime = path.stat().st_mtime_ns
            if mtime == self.restart_mtime:
                return None
            self.restart_mtime = mtime
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        targets = doc.get("targets") if isinstance(doc, dict) else None
        at = doc.get("at") if isinstance(doc, dict) else None
        if not isinstance(targets, list) or not isinstance(at, int | float):
            LOG.warning("ignoring %s: no list of targets or no time", path)
            return None
        # A request left from before this supervisor started was for JVMs that are gone.
        if at < self.started_at:
            return None
        return {t for t in targets if isinstance(t, str)}

    def _finish_retirements(self) -> None:
        for name, child in list(self.children.items()):
            if child.retiring_until is None or not child.retired():
                continue
            if child.successor is None:
                del self.children[name]
            else:
                self.children[name] = Child(child.successor)
                # A restart keeps the spec: keep counting its starts so status shows a restart.
                if child.successor == child.spec:
                    self.children[name].starts = child.starts
            self.events.append({"at": time.time(), "child": name, "event": "reloaded"})

    def tick(self) -> None:
        self._finish_retirements()
        now = time.time()
        for child in self.children.values():
            if child.retiring_until is not None:
                continue
            if child.proc is not None and child.proc.poll() is not None:
                child.reap(self.events, now)
            if child.proc is None and now >= child.next_start_at:
                child.start(self.events)
        del self.events[:-EVENTS_KEPT]

    def write_status(self, state: str) -> None:
        write_json_atomic(
            self.run_dir / "status.json",
            {
                "state": state,
                "pid": _own_pid(),
                "started_at": self.started_at,
                "heartbeat_at": time.time(),
                "generation": self.generation,
                "children": [c.as_dict() for c in self.children.values()],
                "events": self.events,
            },
        )

    def run(self) -> None:
        if self.sample is not None:
            sampler = threading.Thread(target=self._sample_loop, name="lag-sampler", daemon=True)
            sampler.start()
        try:
            while not self.stopping.is_set():
                doc = self.load()
                if doc is not None:
                    self.apply(doc)
                self.check_kick()
                self.check_restart()
                self.tick()
                self.write_status("running")
                self.stopping.wait(LOOP_S)
        finally:
            for child in self.children.values():
                child.terminate()
            for child in self.children.values():
                child.stop()
            self.write_status("stopped")

    def _sample_loop(self) -> None:
        assert self.sample is not None
        last: dict[str, Any] = {}
        while not self.stopping.is_set():
            interval = 5.0
            with contextlib.suppress(Exception):
                interval = self.sample(self.run_dir, last)
            self.stopping.wait(interval)


def _own_pid() -> int:
    return os.getpid()


def main(argv: list[str], sample: Callable[[Path, dict[str, Any]], float] | None = None) -> int:
    """Run the supervisor for ``argv[0]`` (the run directory); return the exit code.

    Other arguments are markers; ``sample`` (if given) runs beside the loop.
    """
    if not argv:
        sys.stderr.write("usage: python -m streamdr.replication.supervise RUN_DIR [-D…]\n")
        return 2
    run_dir = Path(argv[0])
    logging.basicConfig(
        filename=run_dir / "supervisor.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    sup = Supervisor(run_dir, sample=sample)
    signal.signal(signal.SIGTERM, lambda *_: sup.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: sup.stopping.set())
    LOG.info("supervisor starting in %s", run_dir)
    sup.run()
    LOG.info("supervisor stopped")
    return 0
