"""The worker process's HTTP probe server: ``/health``, ``/ready`` and ``/metrics``.

``/health`` answers 200 while the process runs its loop (liveness); ``/ready`` answers 200 only
when every workflow has partitions assigned and its sink breaker is closed or half-open, 503
otherwise, with the per-workflow detail as JSON either way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from streamdr.errors import StateError
from streamdr.observe.metrics import exposition

StatusFn = Callable[[], dict[str, Any]]


class HealthServer:
    """Serves the probes on ``host:port`` (port 0 picks a free one) in a daemon thread."""

    def __init__(self, status: StatusFn, host: str = "127.0.0.1", port: int = 0) -> None:
        self.status = status
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(status))
        except OSError as exc:
            raise StateError(
                f"cannot serve the probes on {host}:{port}: {exc.strerror}",
                hint="Pick another --port (0 chooses a free one).",
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Start serving and return self."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _handler(status: StatusFn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, exposition(), "text/plain; version=0.0.4")
                return
            if self.path not in ("/health", "/ready"):
                self._send(404, b'{"error":"not found"}', "application/json")
                return
            doc = status()
            ok = doc.get("alive", False) if self.path == "/health" else doc.get("ready", False)
            self._send(200 if ok else 503, json.dumps(doc).encode(), "application/json")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # probes every few seconds would drown the worker's own log

    return Handler
