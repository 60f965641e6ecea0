"""Running MirrorMaker 2 on this machine: files, the supervisor process, status and readiness.

Layout of one instance (``default``, or a drill's own) under the lab directory (or
``<settings dir>/.streamdr`` for other sites)::

    mm2/<instance>/mm2.properties   generated, no secrets
    mm2/<instance>/topology.json    what the properties were generated from
    mm2/<instance>/run.json         the supervisor's spec (children, generation)
    mm2/<instance>/status.json      written by the supervisor every 0.5 s
    mm2/<instance>/kick, restart.json   requests to the supervisor (see kick(), restart())
    mm2/<instance>/lag.json         lag samples (see sampler.py)
    mm2/<instance>/<target>/        one MM2 JVM per target site: server.log, stdout.log, pid

Markers follow the lab's scheme (``-Dstreamdr.lab=<base>#mm2#<instance>-<target>`` for JVMs,
``<base>#supervisor#mm2-<instance>`` for the supervisor), so ``lab down`` stops them too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamdr.errors import InputError, StateError
from streamdr.fsutil import atomic_write_text, write_json_atomic
from streamdr.replication.mm2.config import (
    DEFAULT_INSTANCE,
    Mm2Tuning,
    mm2_properties,
    render_properties,
    validate_instance,
)
from streamdr.replication.topology import Topology
from streamdr.runtime import process
from streamdr.runtime.distribution import MIRROR_MAKER_MAIN, KafkaRuntime, ensure_runtime
from streamdr.settings.model import Settings

SUPERVISOR_STALE_S = 10.0
APPLY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


def run_base(settings: Settings) -> Path:
    """Return the directory MM2 state lives under (the lab directory on the lab)."""
    if settings.lab_dir:
        return Path(settings.lab_dir).resolve()
    return (settings.base_dir() / ".streamdr").resolve()


def lab_settings(settings: Settings) -> bool:
    """Return True when every site is a lab site."""
    return all(s.lab for s in settings.sites.values())


@dataclass
class Mm2Status:
    """What the supervisor last reported, checked against the live processes."""

    instance: str
    run_dir: str
    supervisor_pid: int | None
    supervisor_running: bool
    heartbeat_age_seconds: float | None
    generation: int | None
    children: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def target_running(self, target: str) -> bool:
        """Return True when the MM2 JVM writing into ``target`` runs."""
        return any(c["target"] == target and c["running"] for c in self.children)

    @property
    def restarts(self) -> int:
        """Return how many times any MM2 JVM was restarted after dying."""
        return sum(int(c.get("restarts") or 0) for c in self.children)

    def as_dict(self) -> dict[str, Any]:
        """Return the status as JSON-ready data."""
        return {
            "instance": self.instance,
            "run_dir": self.run_dir,
            "supervisor": {
                "pid": self.supervisor_pid,
                "running": self.supervisor_running,
                "heartbeat_age_seconds": self.heartbeat_age_seconds,
                "generation": self.generation,
            },
            "processes": self.children,
            "restarts": self.restarts,
            "events": self.events[-10:],
        }


class Mm2Runner:
    """One MM2 instance for ``settings``: start or reconfigure, stop, report."""

    def __init__(
        self,
        settings: Settings,
        instance: str = DEFAULT_INSTANCE,
        runtime: KafkaRuntime | None = None,
    ) -> None:
        self.settings = settings
        self.instance = validate_instance(instance)
        self.base = run_base(settings)
        self.dir = self.base / "mm2" / instance
        self._runtime = runtime

    # ----- names ------------------------------------------------------------------------
    @property
    def supervisor_marker(self) -> str:
        """Return the supervisor's command-line marker."""
        return process.marker(self.base, "supervisor", f"mm2-{self.instance}")

    def child_marker(self, target: str) -> str:
        """Return the marker of the MM2 JVM writing into ``target``."""
        return process.marker(self.base, "mm2", f"{self.instance}-{target}")

    def topology(self) -> Topology | None:
        """Return the topology this instance was last started with, or None."""
        try:
            return Topology.from_json((self.dir / "topology.json").read_text())
        except (OSError, ValueError, KeyError):
            return None

    # ----- supervisor -------------------------------------------------------------------
    def supervisor_pid(self) -> int | None:
        """Return the supervisor's PID when it runs."""
        pid = process.read_pid(self.dir / "supervisor.pid")
        return pid if process.is_running(pid, self.supervisor_marker) else None

    def _spawn_supervisor(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "streamdr.replication.supervise",
            str(self.dir),
            f"-Dstreamdr.lab={self.supervisor_marker}",
        ]
        proc = process.spawn(cmd, cwd=self.dir, log_file=self.dir / "supervisor.out")
        process.write_pid(self.dir / "supervisor.pid", proc.pid)

    def _children(self, props: dict[str, str], topology: Topology) -> list[dict[str, Any]]:
        runtime = self._runtime or ensure_runtime()
        self._runtime = runtime
        heap = self.settings.replication.heap_mb
        out = []
        for target in topology.sites:
            workdir = self.dir / target
            cmd = runtime.command(
                MIRROR_MAKER_MAIN,
                [str(self.dir / "mm2.properties"), "--clusters", target],
                heap_mb=heap,
                log_dir=workdir,
                marker=self.child_marker(target),
            )
            out.append(
                {
                    "name": f"to-{target}",
                    "target": target,
                    "cmd": cmd,
                    "dir": str(workdir),
                    "marker": self.child_marker(target),
                    "fingerprint": _fingerprint(props, target, topology.sites),
                }
            )
        return out

    def apply(self, topology: Topology, *, timeout: float = APPLY_TIMEOUT_S) -> bool:
        """Run MM2 for ``topology``: start the supervisor, or let it reload; return True if changed.

        Only JVMs whose inbound flows changed are restarted. Raises InputError when the
        settings were not loaded from a file, StateError when the supervisor does not confirm.
        """
        if self.settings.source is None:
            raise InputError(
                "replication needs settings loaded from a file (the supervisor re-reads it)",
                hint="Pass --config PATH.",
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        tuning = Mm2Tuning.from_settings(self.settings.replication, lab_settings(self.settings))
        props = mm2_properties(topology, self.settings.sites, tuning, self.instance)
        header = f"Written by `streamdr replicate` (instance {self.instance}); do not edit."
        _write_if_changed(self.dir / "mm2.properties", render_properties(props, header))
        _write_if_changed(self.dir / "topology.json", topology.to_json())
        children = self._children(props, topology)
        previous = self._run_doc()
        changed = (
            previous.get("children") != children or previous.get("topology") != topology.to_json()
        )
        generation = int(previous.get("generation", 0)) + (1 if changed else 0)
        if changed or not previous:
            write_json_atomic(
                self.dir / "run.json",
                {
                    "instance": self.instance,
                    "settings_path": str(self.settings.source),
                    "generation": generation,
                    "topology": topology.to_json(),
                    "children": children,
                },
            )
        if self.supervisor_pid() is None:
            self._spawn_supervisor()
        self._wait_generation(generation, timeout)
        return changed

    def _run_doc(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads((self.dir / "run.json").read_text())
            return doc
        except (OSError, ValueError):
            return {}

    def _wait_generation(self, generation: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if (
                st.supervisor_running
                and st.generation == generation
                and all(c.get("started_at") for c in st.children)
            ):
                return
            time.sleep(0.2)
        raise StateError(
            f"the MM2 supervisor did not start generation {generation} within {timeout:.0f}s",
            hint=f"See {self.dir / 'supervisor.log'} and {self.dir / 'supervisor.out'}.",
        )

    def kick(self) -> None:
        """Ask the supervisor to start JVMs waiting out a restart backoff right away."""
        if self.dir.exists():
            (self.dir / "kick").write_text(f"{time.time()}\n")

    def restart(self, targets: list[str], *, timeout: float = APPLY_TIMEOUT_S) -> None:
        """Have the supervisor restart the JVMs writing into ``targets`` (same config).

        Returns once each has a new JVM; raises StateError when the supervisor does not run or
        does not confirm within ``timeout`` (a JVM refusing SIGTERM is killed after 8 s).
        """
        if not targets:
            return
        if self.supervisor_pid() is None:
            raise StateError(
                "the MM2 supervisor is not running", hint="Run `streamdr replicate start`."
            )
        asked = time.time()
        write_json_atomic(self.dir / "restart.json", {"targets": sorted(targets), "at": asked})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = {
                c["target"]: c.get("started_at") or 0.0
                for c in self.status().children
                if c.get("running")
            }
            if all(started.get(t, 0.0) >= asked for t in targets):
                return
            time.sleep(0.2)
        raise StateError(
            f"the MM2 supervisor did not restart the JVMs into {', '.join(targets)} "
            f"within {timeout:.0f}s",
            hint=f"See {self.dir / 'supervisor.log'}.",
        )

    def status(self) -> Mm2Status:
        """Return the supervisor's last report, with liveness checked against /proc."""
        pid = self.supervisor_pid()
        try:
            doc: dict[str, Any] = json.loads((self.dir / "status.json").read_text())
        except (OSError, ValueError):
            doc = {}
        age = time.time() - doc["heartbeat_at"] if "heartbeat_at" in doc else None
        alive = pid is not None and age is not None and age < SUPERVISOR_STALE_S
        children = []
        for child in doc.get("children", []):
            child = dict(child)
            mark = self.child_marker(str(child.get("target")))
            child["running"] = alive and process.is_running(child.get("pid"), mark)
            children.append(child)
        return Mm2Status(
            self.instance,
            str(self.dir),
            pid,
            alive,
            None if age is None else round(age, 2),
            doc.get("generation") if alive else None,
            children,
            list(doc.get("events", [])),
        )

    def forget(self) -> None:
        """Remove this instance's state (config, status, logs) after :meth:`stop`."""
        if self.supervisor_pid() is not None:
            raise StateError("MM2 is still running", hint="Run `streamdr replicate stop` first.")
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self, *, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop the supervisor and its MM2 JVMs; return False when nothing was running."""
        pid = self.supervisor_pid()
        stopped = False
        if pid is not None:
            process.signal_pid(pid, signal.SIGTERM)
            if not process.wait_gone(pid, self.supervisor_marker, timeout):
                process.kill(pid, self.supervisor_marker)
            stopped = True
        # JVMs of a supervisor that was SIGKILLed are orphans: find them by marker.
        for mark in (self.child_marker(t) for t in self.settings.sites):
            for jvm in process.find_marked(mark):
                if process.is_running(jvm, mark):
                    process.kill(jvm, mark)
                    stopped = True
        (self.dir / "supervisor.pid").unlink(missing_ok=True)
        return stopped


def _fingerprint(props: dict[str, str], target: str, sites: tuple[str, ...]) -> str:
    """Return a hash of the settings that matter to the JVM writing into ``target``."""
    foreign = tuple(f"{a}->{b}." for a in sites for b in sites if a != b and b != target)
    relevant = {k: v for k, v in props.items() if not k.startswith(foreign)}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    atomic_write_text(path, text)
