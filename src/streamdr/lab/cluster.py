"""The lab: one KRaft cluster per site, run from the official jars on loopback.

``Lab.up`` is idempotent: it creates what is missing, starts nodes that are not running (a stale
PID file is ignored) and leaves running nodes alone. A failed ``up`` stops every node it started.
"""

from __future__ import annotations

import base64
import fcntl
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streamdr.errors import StateError, StreamdrError, UnreachableError
from streamdr.fsutil import atomic_write_text
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.layout import (
    DEFAULT_BROKERS,
    DEFAULT_SITES,
    LAB_STATE_FILE,
    PROXY_PORTS_PER_NODE,
    SASL_PASSWORD_FILE,
    LabLayout,
    NodeLayout,
    SiteLayout,
    broker_properties,
    node_dir,
    plan_layout,
    render_properties,
    with_proxy_ports,
    with_sasl_ports,
)
from streamdr.lab.sasl import ensure_scram_user, read_or_create_password, sasl_site
from streamdr.lab.settings_file import write_lab_settings
from streamdr.runtime import process
from streamdr.runtime.distribution import (
    BROKER_MAIN,
    STORAGE_TOOL_MAIN,
    KafkaRuntime,
    ensure_runtime,
)
from streamdr.runtime.ports import free_ports, port_is_free
from streamdr.settings.model import SiteSettings

BROKER_HEAP_MB = 384
UP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class NodeStatus:
    """Process state of one lab node."""

    site: str
    node_id: int
    port: int
    controller_port: int
    pid: int | None
    running: bool
    log_file: str


def new_cluster_id() -> str:
    """Return a random KRaft cluster id (base64url of 16 bytes, never starting with '-')."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class Lab:
    """The lab living in ``lab_dir`` (default ``./.streamdr/lab``)."""

    def __init__(self, lab_dir: Path, runtime: KafkaRuntime | None = None) -> None:
        self.dir = lab_dir.resolve()
        self._runtime = runtime

    # ----- state -------------------------------------------------------------------------
    @property
    def runtime(self) -> KafkaRuntime:
        """Return the Kafka runtime, installing it on first use."""
        if self._runtime is None:
            self._runtime = ensure_runtime()
        return self._runtime

    @property
    def state_file(self) -> Path:
        """Return the path of ``lab.json``."""
        return self.dir / LAB_STATE_FILE

    @property
    def settings_file(self) -> Path:
        """Return the path of the settings file the lab writes."""
        return self.dir / "streamdr.yaml"

    def layout(self) -> LabLayout | None:
        """Return the saved layout, or None when there is no lab here.

        Raises StateError when ``lab.json`` is unreadable.
        """
        if not self.state_file.exists():
            return None
        try:
            return LabLayout.from_json(self.state_file.read_text())
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"the lab state {self.state_file} is unreadable: {exc}",
                hint="Run `streamdr lab down --purge` to remove this lab, then `lab up`.",
            ) from exc

    def require_layout(self) -> LabLayout:
        """Return the saved layout; raises StateError when no lab exists here."""
        layout = self.layout()
        if layout is None:
            raise StateError(f"no lab in {self.dir}", hint="Run `streamdr lab up` first.")
        return layout

    def _save(self, layout: LabLayout) -> None:
        atomic_write_text(self.state_file, layout.to_json())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ----- nodes -------------------------------------------------------------------------
    def _mark(self, node: NodeLayout) -> str:
        return process.marker(self.dir, node.site, node.node_id)

    def _pid_file(self, node: NodeLayout) -> Path:
        return node_dir(self.dir, node) / "pid"

    def _log_file(self, node: NodeLayout) -> Path:
        return node_dir(self.dir, node) / "server.log"

    def node_pid(self, node: NodeLayout) -> int | None:
        """Return the PID of a running node, or None (a stale PID file counts as not running)."""
        pid = process.read_pid(self._pid_file(node))
        return pid if process.is_running(pid, self._mark(node)) else None

    def status(self) -> list[NodeStatus]:
        """Return the process state of every node; raises StateError when there is no lab."""
        out = []
        for site in self.require_layout().sites:
            for node in site.nodes:
                pid = self.node_pid(node)
                out.append(
                    NodeStatus(
                        site.name,
                        node.node_id,
                        node.port,
                        node.controller_port,
                        pid,
                        pid is not None,
                        str(self._log_file(node)),
                    )
                )
        return out

    def _write_properties(self, site: SiteLayout, node: NodeLayout) -> Path:
        ndir = node_dir(self.dir, node)
        ndir.mkdir(parents=True, exist_ok=True)
        props = ndir / "server.properties"
        props.write_text(render_properties(broker_properties(site, node, ndir / "data")))
        return props

    def _format(self, site: SiteLayout) -> None:
        procs = []
        for node in site.nodes:
            props = self._write_properties(site, node)
            cmd = self.runtime.command(
                STORAGE_TOOL_MAIN,
                [
                    "format",
                    "--cluster-id",
                    site.cluster_id,
                    "--config",
                    str(props),
                    "--ignore-formatted",
                ],
                heap_mb=128,
                log_dir=node_dir(self.dir, node),
            )
            procs.append(
                (node, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            )
        for node, proc in procs:
            try:
                out, _ = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired as exc:
                for _node, other in procs:
                    other.kill()
                raise UnreachableError(
                    f"formatting storage of {node.site} node {node.node_id} took over 120 s",
                    hint="The machine is too busy to start a JVM in time; retry `lab up` "
                    "when it is quieter.",
                ) from exc
            if proc.returncode != 0:
                raise StateError(
                    f"formatting storage of {node.site} node {node.node_id} failed: "
                    f"{out.decode(errors='replace').strip().splitlines()[-1:]}",
                    hint="Run `streamdr lab down --purge` and `lab up` again.",
                )

    def _start_node(self, site: SiteLayout, node: NodeLayout) -> subprocess.Popen[bytes]:
        for port in (node.port, node.controller_port):
            if not _wait_port_free(port, timeout=10.0):
                raise StateError(
                    f"port {port} of {node.site} node {node.node_id} is in use by another process",
                    hint=f"Find it with `ss -ltnp 'sport = :{port}'` and stop it, or run "
                    "`streamdr lab down --purge` and `lab up` to pick new ports.",
                )
        props = self._write_properties(site, node)
        ndir = node_dir(self.dir, node)
        cmd = self.runtime.command(
            BROKER_MAIN, [str(props)], heap_mb=BROKER_HEAP_MB, log_dir=ndir, marker=self._mark(node)
        )
        proc = process.spawn(cmd, cwd=ndir, log_file=ndir / "stdout.log")
        process.write_pid(self._pid_file(node), proc.pid)
        return proc

    def _new_layout(self, sites: tuple[str, ...], brokers: int) -> LabLayout:
        nodes = brokers * len(sites)
        ports = free_ports((2 + PROXY_PORTS_PER_NODE) * nodes + 1 + brokers)
        layout = plan_layout(
            sites,
            brokers,
            ports[: 2 * nodes],
            [new_cluster_id() for _ in sites],
            self.runtime.version,
        )
        # Proxied listeners (WAN, EDGE) exist from the start; their proxies only on demand.
        proxy_end = (2 + PROXY_PORTS_PER_NODE) * nodes
        layout = with_proxy_ports(layout, ports[2 * nodes : proxy_end], ports[proxy_end])
        # The first site also gets a SCRAM listener (its user is created once it runs).
        layout = with_sasl_ports(
            layout, sites[0], ports[proxy_end + 1 :], self.dir / SASL_PASSWORD_FILE
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        for site in layout.sites:
            self._format(site)
        self._save(layout)
        return layout

    # ----- lifecycle ---------------------------------------------------------------------
    def up(
        self,
        sites: tuple[str, ...] | None = None,
        brokers: int | None = None,
        *,
        timeout: float = UP_TIMEOUT_S,
    ) -> LabLayout:
        """Bring every node of the lab up and return the layout.

        Raises StateError when an existing lab has another shape, a port is taken or a node
        fails to start (after stopping what this call started), UnreachableError when the
        runtime cannot be installed.
        """
        with self._locked():
            layout = self.layout()
            wanted = (sites or DEFAULT_SITES, brokers or DEFAULT_BROKERS)
            if layout is None:
                layout = self._new_layout(*wanted)
            elif (sites or brokers) and layout.shape != tuple((s, wanted[1]) for s in wanted[0]):
                raise StateError(
                    f"a lab with sites {dict(layout.shape)} already exists in {self.dir}",
                    hint="Run `streamdr lab down --purge` first, or `lab up` without "
                    "--sites/--brokers.",
                )
            started = self._start_missing(layout)
            try:
                self._wait_ready(layout, started, timeout)
            except StreamdrError:
                self._abort(started)
                raise
            self._ensure_sasl_user(layout)
            write_lab_settings(self.settings_file, self.dir, layout)
            return layout

    def _ensure_sasl_user(self, layout: LabLayout) -> None:
        """Create or refresh the SCRAM user of a lab that has a SASL listener (idempotent)."""
        found = sasl_site(layout)
        if found is None:  # a lab made before the SASL listener existed
            return
        site, record = found  # the password file is always this lab's own
        password = read_or_create_password(self.dir / SASL_PASSWORD_FILE)
        ensure_scram_user(site, str(record["username"]), password)

    def _start_missing(self, layout: LabLayout) -> list[tuple[NodeLayout, subprocess.Popen[bytes]]]:
        started: list[tuple[NodeLayout, subprocess.Popen[bytes]]] = []
        try:
            for site in layout.sites:
                for node in site.nodes:
                    if self.node_pid(node) is None:
                        started.append((node, self._start_node(site, node)))
        except StreamdrError:
            self._abort(started)
            raise
        return started

    def _abort(self, started: list[tuple[NodeLayout, subprocess.Popen[bytes]]]) -> None:
        """Kill every JVM this call started (a failed ``up`` leaves nothing behind)."""
        for node, proc in started:
            proc.kill()
            proc.wait(timeout=30)
            self._pid_file(node).unlink(missing_ok=True)

    def _wait_ready(
        self,
        layout: LabLayout,
        started: list[tuple[NodeLayout, subprocess.Popen[bytes]]],
        timeout: float,
        only: set[int] | None = None,
    ) -> None:
        """Wait until every node (or those in ``only``) of each site is in the metadata."""
        deadline = time.monotonic() + timeout
        for site in layout.sites:
            admin = KafkaAdmin(
                site.name, SiteSettings(bootstrap_servers=site.bootstrap_servers), timeout=5.0
            )
            want = {n.node_id for n in site.nodes if only is None or n.node_id in only}
            while True:
                self._raise_if_died(started)
                try:
                    if want <= {b.node_id for b in admin.metadata(timeout=3.0).brokers}:
                        break
                except UnreachableError:
                    pass
                if time.monotonic() > deadline:
                    raise StateError(
                        f"site {site.name!r} did not get all {len(want)} brokers "
                        f"within {timeout:.0f}s",
                        hint=f"Look at the logs under {self.dir / site.name}/node-*/server.log.",
                    )
                time.sleep(0.5)

    def _raise_if_died(self, started: list[tuple[NodeLayout, subprocess.Popen[bytes]]]) -> None:
        # Our own children: poll() is authoritative (no /proc marker race right after exec).
        for node, proc in started:
            if proc.poll() is not None:
                tail = _tail(node_dir(self.dir, node) / "stdout.log") or _tail(self._log_file(node))
                raise StateError(
                    f"{node.site} node {node.node_id} exited during start-up: {tail}",
                    hint=f"See {self._log_file(node)}; `streamdr lab down --purge` resets the lab.",
                )

    def _stop_nodes(
        self,
        nodes: list[NodeLayout],
        *,
        sig: signal.Signals = signal.SIGTERM,
        timeout: float = 20.0,
    ) -> list[NodeLayout]:
        """Signal all ``nodes`` at once, wait, then SIGKILL stragglers; return those stopped."""
        live = [(n, pid) for n in nodes if (pid := self.node_pid(n)) is not None]
        for _, pid in live:
            process.signal_pid(pid, sig)
        deadline = time.monotonic() + timeout
        for node, pid in live:
            remaining = max(0.1, deadline - time.monotonic())
            if not process.wait_gone(pid, self._mark(node), remaining):
                process.kill(pid, self._mark(node))
        for node, _ in live:
            self._pid_file(node).unlink(missing_ok=True)
        return [n for n, _ in live]

    def down(self, *, purge: bool = False) -> int:
        """Stop every lab JVM (also orphans without PID files); return how many were stopped.

        With ``purge`` the lab directory (data, logs, settings) is removed too.
        """
        with self._locked():
            layout = self.layout() if self.state_file.exists() else None
            nodes = [n for s in layout.sites for n in s.nodes] if layout else []
            # Supervisors (e.g. of MirrorMaker 2) first, or they would restart what we stop.
            stopped = self._stop_supervisors()
            stopped += len(self._stop_nodes(nodes))
            for pid in process.find_marked(f"{self.dir}#"):
                process.signal_pid(pid, signal.SIGKILL)
                stopped += 1
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)
        return stopped

    def _stop_supervisors(self, timeout: float = 60.0) -> int:
        """SIGTERM every supervisor marked ``<lab>#supervisor#…`` and wait; return how many."""
        prefix = process.marker(self.dir, process.SUPERVISOR, "")
        marked = [(pid, process.marker_of(pid) or prefix) for pid in process.find_marked(prefix)]
        for pid, _ in marked:
            process.signal_pid(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for pid, mark in marked:
            if not process.wait_gone(pid, mark, max(0.1, deadline - time.monotonic())):
                process.kill(pid, mark)
        return len(marked)

    def _node(self, site: str, node_id: int) -> tuple[SiteLayout, NodeLayout]:
        layout = self.require_layout()
        try:
            site_layout = layout.site(site)
            return site_layout, site_layout.node(node_id)
        except KeyError as exc:
            raise StateError(
                f"the lab has no node {site}/{node_id}",
                hint=f"Sites and nodes: {dict(layout.shape)} (nodes are numbered from 1).",
            ) from exc

    def stop_broker(self, site: str, node_id: int) -> bool:
        """Stop one broker cleanly; return False when it was not running."""
        _, node = self._node(site, node_id)
        return bool(self._stop_nodes([node]))

    def kill_broker(self, site: str, node_id: int) -> bool:
        """SIGKILL one broker (a crash); return False when it was not running."""
        _, node = self._node(site, node_id)
        return bool(self._stop_nodes([node], sig=signal.SIGKILL, timeout=10.0))

    def start_broker(self, site: str, node_id: int, *, wait: bool = True) -> bool:
        """Start one broker; return False when it was already running.

        With ``wait`` returns only once the broker is back in the cluster metadata.
        """
        site_layout, node = self._node(site, node_id)
        with self._locked():
            if self.node_pid(node) is not None:
                return False
            proc = self._start_node(site_layout, node)
        if wait:
            single = LabLayout(self.require_layout().kafka_version, (site_layout,))
            self._wait_ready(single, [(node, proc)], UP_TIMEOUT_S, only={node_id})
        return True

    def kill_site(self, site: str) -> int:
        """SIGKILL every broker of ``site`` (a site loss); return how many were killed."""
        layout = self.require_layout()
        try:
            nodes = list(layout.site(site).nodes)
        except KeyError as exc:
            raise StateError(
                f"the lab has no site {site!r}",
                hint=f"Sites: {', '.join(s.name for s in layout.sites)}.",
            ) from exc
        return len(self._stop_nodes(nodes, sig=signal.SIGKILL, timeout=10.0))


def _wait_port_free(port: int, timeout: float) -> bool:
    # A just-killed JVM can hold its listeners for a moment while the kernel tears it down.
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    errors = [line for line in text if "ERROR" in line or "Exception" in line]
    return " | ".join((errors or text)[-lines:])[:500]
