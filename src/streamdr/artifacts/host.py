"""Running a signed transformation in its own confined process (one per workflow).

A signed transformation is trusted to compute, not with the worker's secrets. So the worker
never imports it: :class:`TransformHost` starts ``artifacts.child`` with a minimal environment
(no STREAMDR_*, no passwords, no HMAC secrets), a CPU and a memory limit, no network unless the
workflow declares it, and sends it batches of events over length-prefixed JSON frames on its
stdin/stdout. Every event has a wall-clock deadline: a host that misses it, crashes or exits is
killed and restarted, that event fails with the reason (and is dead-lettered by the caller) and
the rest of the batch goes to the new host.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamdr
from streamdr.artifacts.api import ChangeEvent, OutputEvent
from streamdr.artifacts.errors import ArtifactLoadError, TransformFailed
from streamdr.artifacts.wire import (
    HEADER,
    MAX_FRAME_BYTES,
    WireError,
    decode_body,
    encode_frame,
    event_to_doc,
    output_from_doc,
)
from streamdr.errors import StateError

BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from streamdr.artifacts.child import main; main()"
)
# Only these variables reach the host, and only when set: nothing secret, nothing STREAMDR_*.
PASSED_ENV = ("LANG", "LC_ALL", "TZ")
PR_SET_DUMPABLE = 4
CPU_RECYCLE_SHARE = 0.8
_shielded = False


class TransformIsolationError(StateError):
    """The transformation host cannot be confined (no network namespace) or cannot start."""


@dataclass(frozen=True)
class HostLimits:
    """Limits of one transformation host."""

    timeout_seconds: float = 10.0  # wall clock per event
    start_timeout_seconds: float = 30.0  # starting the interpreter and importing the artifact
    cpu_seconds: int = 600  # CPU over the host's life; it is replaced at 80 % of this
    memory_bytes: int = 1 << 30  # address space


@dataclass(frozen=True)
class HostSpec:
    """What a host runs: a verified, unpacked artifact and whether it may use the network."""

    directory: Path
    entry_point: str
    package: str
    label: str
    network: bool = False


def minimal_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """Return the environment of a host: a fixed PATH plus the locale and time zone."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    env.update({k: environ[k] for k in PASSED_ENV if k in environ})
    return env


def shield_parent() -> None:
    """Make this process non-dumpable, once, so a host cannot read our /proc/<pid>/environ.

    Same-uid processes may read each other's environment; a host in its own user namespace
    has no CAP_SYS_PTRACE over a non-dumpable parent, so the secrets there are out of reach.
    """
    global _shielded
    if not _shielded and sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        _shielded = True


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        name = signal.Signals(-code).name
        why = {"SIGXCPU": " (CPU limit)", "SIGKILL": " (killed)"}.get(name, "")
        return f"was killed by {name}{why}"
    return f"exited with code {code}"


class TransformHost:
    """A transformation in its own process, callable like the TransformV1 it hosts."""

    def __init__(self, spec: HostSpec, limits: HostLimits | None = None) -> None:
        self.spec = spec
        self.limits = limits or HostLimits()
        self.network_mode = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _kill, [None])

    def __call__(self, event: ChangeEvent) -> list[OutputEvent]:
        """Return the outputs for ``event``; raises TransformFailed with the reason."""
        (result,) = self.transform_batch([event])
        if isinstance(result, TransformFailed):
            raise result
        return result

    def start(self) -> None:
        """Start the host and import the artifact in it.

        Raises ArtifactLoadError when the import fails (exit 2) and TransformIsolationError
        when no network namespace can be made or the host does not start.
        """
        with self._lock:
            self._ensure_started()

    def close(self) -> None:
        """Stop the host (closing its stdin ends its loop; a busy host is killed)."""
        with self._lock:
            self._stop()

    def transform_batch(
        self, events: Sequence[ChangeEvent]
    ) -> list[list[OutputEvent] | TransformFailed]:
        """Return, per event, its outputs or the TransformFailed saying why it has none.

        One frame carries the batch; a host that hangs or dies fails only the event it was on.
        Raises TransformIsolationError when the host cannot be (re)started.
        """
        with self._lock:
            results: list[list[OutputEvent] | TransformFailed] = []
            pending = list(events)
            while pending:
                replies, failure = self._round_trip(pending)
                results.extend(_result(doc) for doc in replies)
                if failure is None:
                    break
                results.append(TransformFailed(failure))
                pending = pending[len(replies) + 1 :]
            self._recycle_if_worn()
            return results

    def _round_trip(self, events: list[ChangeEvent]) -> tuple[list[dict[str, Any]], str | None]:
        frame = encode_frame({"events": [event_to_doc(e) for e in events]})
        for attempt in (1, 2):
            self._ensure_started()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(frame)
                self._proc.stdin.flush()
                break
            except OSError:
                # It died between batches (not the fault of these events): start a new one.
                self._stop()
                if attempt == 2:
                    raise TransformIsolationError(
                        f"transformation host of {self.spec.label} dies before reading events",
                        hint="See the worker's stderr for the host's traceback.",
                    ) from None
        replies: list[dict[str, Any]] = []
        while len(replies) < len(events):
            doc, failure = self._next_frame(self.limits.timeout_seconds)
            if failure is not None:
                self._stop()
                return replies, failure
            replies.append(doc)
        return replies, None

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop()
        shield_parent()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", BOOT, str(Path(streamdr.__file__).parents[1])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=minimal_env(os.environ),
            cwd=self.spec.directory,
            start_new_session=True,  # a Ctrl-C of the worker is not the transformation's
        )
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _kill, [self._proc])
        self._handshake()

    def _handshake(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        config = {
            "directory": str(self.spec.directory),
            "entry_point": self.spec.entry_point,
            "package": self.spec.package,
            "network": self.spec.network,
            "cpu_seconds": self.limits.cpu_seconds,
            "memory_bytes": self.limits.memory_bytes,
        }
        try:
            self._proc.stdin.write(encode_frame(config))
            self._proc.stdin.flush()
        except OSError:
            pass  # the reply (end of stream) says what happened
        doc, failure = self._next_frame(self.limits.start_timeout_seconds)
        if doc.get("ready") is True:
            self.network_mode = str(doc.get("network", ""))
            return
        self._stop()
        raise _start_error(self.spec, doc, failure)

    def _next_frame(self, timeout: float) -> tuple[dict[str, Any], str | None]:
        """Return (the next frame, None) or ({}, why none came within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buf) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buf)
                if size > MAX_FRAME_BYTES:
                    return {}, f"transformation host sent a frame of {size} bytes"
                if len(self._buf) >= HEADER.size + size:
                    body = bytes(self._buf[HEADER.size : HEADER.size + size])
                    del self._buf[: HEADER.size + size]
                    try:
                        return decode_body(body), None
                    except WireError as exc:
                        return {}, f"transformation host sent a malformed frame: {exc}"
            failure = self._fill(deadline, timeout)
            if failure is not None:
                return {}, failure

    def _fill(self, deadline: float, timeout: float) -> str | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return f"transformation timed out after {timeout:g}s (host killed and restarted)"
        chunk = os.read(fd, 1 << 16)
        if chunk:
            self._buf.extend(chunk)
            return None
        try:
            code: int | None = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return f"transformation host {_describe_exit(code)}"

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        self._buf.clear()
        if proc is not None:
            _kill([proc])

    def _recycle_if_worn(self) -> None:
        """Replace the host before its lifetime CPU limit kills it in the middle of an event."""
        if self._proc is None:
            return
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return
        used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if used > CPU_RECYCLE_SHARE * self.limits.cpu_seconds:
            self._stop()


def _kill(holder: list[subprocess.Popen[bytes] | None]) -> None:
    proc = holder[0]
    if proc is None:
        return
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


def _result(doc: dict[str, Any]) -> list[OutputEvent] | TransformFailed:
    if isinstance(doc.get("error"), str):
        return TransformFailed(doc["error"])
    outputs = doc.get("outputs")
    if not isinstance(outputs, list):
        return TransformFailed("transformation host sent a reply without outputs")
    try:
        return [output_from_doc(out, i) for i, out in enumerate(outputs)]
    except WireError as exc:
        return TransformFailed(f"transformation host sent a malformed output: {exc}")


def _start_error(spec: HostSpec, doc: dict[str, Any], failure: str | None) -> Exception:
    error = str(doc.get("error") or failure or "no handshake")
    if doc.get("stage") == "import":
        return ArtifactLoadError(
            f"artifact {spec.label}: importing {spec.entry_point} failed: {error}",
            hint="Fix the transformation and publish a new version; inside an artifact, "
            "import sibling modules relatively (from . import x).",
        )
    if doc.get("stage") == "isolation":
        return TransformIsolationError(
            f"transformation {spec.label} cannot be isolated: {error}",
            hint="Enable user namespaces (sysctl user.max_user_namespaces > 0), or declare "
            "`network: true` under the workflow's transformation if it needs the network.",
        )
    return ArtifactLoadError(
        f"artifact {spec.label}: the transformation host {error} while importing "
        f"{spec.entry_point}",
        hint="The artifact ends the process when imported (sys.exit, os._exit, a crash); "
        "fix it and publish a new version.",
    )
