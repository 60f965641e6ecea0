"""Serving the reference endpoint with uvicorn, in this process or as a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import uvicorn

from streamdr.errors import StateError
from streamdr.pipeline.endpoint.app import EndpointState, create_app
from streamdr.pipeline.endpoint.client import EndpointClient
from streamdr.pipeline.endpoint.store import IdempotencyStore


def serve(host: str, port: int, db: Path, state: EndpointState) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it cleanly)."""
    store = IdempotencyStore(db)
    try:
        config = uvicorn.Config(
            create_app(store, state),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        uvicorn.Server(config).run()
    finally:
        store.close()


class EndpointProcess:
    """A ``streamdr endpoint serve`` child process (drills and tests start and kill it)."""

    def __init__(
        self,
        port: int,
        db: Path,
        *,
        secret_env: str,
        env: dict[str, str] | None = None,
        fail_rate: float = 0.0,
        log_file: Path | None = None,
    ) -> None:
        self.port = port
        self.db = db
        self.secret_env = secret_env
        self.env = env or {}
        self.fail_rate = fail_rate
        self.log_file = log_file or db.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = EndpointClient(f"http://127.0.0.1:{port}")

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 90.0) -> EndpointProcess:
        """Start the child and wait until it answers; raises StateError if it does not."""
        self.client.close()
        self.client = EndpointClient(self.url)
        cmd = [
            sys.executable,
            "-m",
            "streamdr",
            "endpoint",
            "serve",
            "--port",
            str(self.port),
            "--db",
            str(self.db),
            "--secret-env",
            self.secret_env,
            "--fail-rate",
            str(self.fail_rate),
        ]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.client.alive():
                return self
            time.sleep(0.1)
        self.kill()
        raise StateError(
            f"the reference endpoint on port {self.port} did not start",
            hint=f"See {self.log_file}.",
        )

    def kill(self) -> None:
        """SIGKILL the child (an outage) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM the child and wait (SIGKILL after 10 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.client.close()
