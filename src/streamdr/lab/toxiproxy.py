"""Toxiproxy for the lab: the server process and a small client of its HTTP API.

The server is built by ``scripts/ensure-toxiproxy`` into ``~/.cache/streamdr/bin`` and started
on demand (the first ``lab link``/``lab partition``), listening on 127.0.0.1 only. httpx
errors are translated here into UnreachableError/StateError.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from streamdr.errors import StateError, UnreachableError
from streamdr.lab.layout import LAB_HOST
from streamdr.lab.wan import ProxySpec, Toxic
from streamdr.runtime import process

BINARY_ENV = "STREAMDR_TOXIPROXY"
START_TIMEOUT_S = 15.0


def binary_path() -> Path:
    """Return the Toxiproxy server binary ($STREAMDR_TOXIPROXY or the setup script's build)."""
    env = os.environ.get(BINARY_ENV)
    return Path(env) if env else Path.home() / ".cache" / "streamdr" / "bin" / "toxiproxy-server"


class ToxiproxyClient:
    """Talks to one Toxiproxy server's API at ``127.0.0.1:port``."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.base = f"http://{LAB_HOST}:{port}"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            resp = httpx.request(method, self.base + path, json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise UnreachableError(
                f"Toxiproxy at {self.base} does not answer: {exc}",
                hint="Run `streamdr lab heal` to restart the lab's proxies.",
            ) from exc
        if resp.status_code >= 400:
            raise StateError(
                f"Toxiproxy refused {method} {path}: {resp.status_code} {resp.text[:200]}",
                hint="Run `streamdr lab heal` to reset every proxy.",
            )
        if "json" not in resp.headers.get("content-type", ""):
            return resp.text  # /version answers plain text
        try:
            return resp.json()
        except ValueError as exc:
            raise StateError(
                f"Toxiproxy answered {method} {path} with invalid JSON",
                hint="Run `streamdr lab heal`; see the lab's toxiproxy/toxiproxy.log.",
            ) from exc

    def alive(self) -> bool:
        """Return True when the server answers ``/version``."""
        try:
            self._call("GET", "/version")
        except (UnreachableError, StateError):
            return False
        return True

    def populate(self, proxies: list[ProxySpec]) -> None:
        """Create the proxies that are missing (existing ones are kept as they are)."""
        self._call("POST", "/populate", [p.as_json() for p in proxies])

    def proxies(self) -> dict[str, Any]:
        """Return every proxy by name, with its toxics."""
        body = self._call("GET", "/proxies")
        return body if isinstance(body, dict) else {}

    def set_toxics(self, proxy: str, toxics: list[Toxic]) -> None:
        """Put ``toxics`` on ``proxy``, replacing toxics of the same name."""
        present = {t.get("name") for t in self.proxies().get(proxy, {}).get("toxics", [])}
        for toxic in toxics:
            if toxic.name in present:
                self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic.name}")
            self._call("POST", f"/proxies/{proxy}/toxics", toxic.as_json())

    def reset(self) -> None:
        """Remove every toxic and enable every proxy (heal the whole lab)."""
        self._call("POST", "/reset")


class ToxiproxyServer:
    """The lab's Toxiproxy server process, PID file in ``lab_dir/toxiproxy``."""

    def __init__(self, lab_dir: Path, port: int) -> None:
        self.dir = lab_dir / "toxiproxy"
        self.port = port
        self.client = ToxiproxyClient(port)
        # The lab's marker, so `lab down` finds the server like a broker JVM.
        self._mark = process.marker(lab_dir, "toxiproxy", "server")

    def pid(self) -> int | None:
        """Return the PID of the running server, or None."""
        pid = process.read_pid(self.dir / "pid")
        return pid if process.is_running(pid, self._mark) else None

    def ensure(self) -> ToxiproxyClient:
        """Start the server unless it runs; return a client. Raises StateError if it cannot."""
        if self.pid() is not None and self.client.alive():
            return self.client
        binary = binary_path()
        if not binary.exists():
            raise StateError(
                f"the Toxiproxy server is not installed ({binary})",
                hint="Run `scripts/ensure-toxiproxy` (part of `make setup`).",
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        # Go's flag parsing stops at "--": the marker after it is an ignored argument.
        cmd = [str(binary), "-host", LAB_HOST, "-port", str(self.port), "--"]
        cmd.append(f"-Dstreamdr.lab={self._mark}")
        proc = process.spawn(cmd, cwd=self.dir, log_file=self.dir / "toxiproxy.log")
        process.write_pid(self.dir / "pid", proc.pid)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.client.alive():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise StateError(
                    f"the Toxiproxy server did not start on port {self.port}",
                    hint=f"See {self.dir / 'toxiproxy.log'}.",
                )
            time.sleep(0.1)
        return self.client

    def stop(self) -> bool:
        """Stop the server; return False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        process.signal_pid(pid, signal.SIGTERM)
        if not process.wait_gone(pid, self._mark, 10.0):
            process.kill(pid, self._mark)
        (self.dir / "pid").unlink(missing_ok=True)
        return True
