"""The transformation host process: confine itself, import one artifact, transform batches.

Started by :mod:`streamdr.artifacts.host` with a minimal environment and pipes on
stdin/stdout. The first frame says what to load and the limits; the host then, *before* any
artifact code runs: moves into a new user+network namespace (unless the workflow declares
network; no namespace means refusing to run), sets no_new_privs and resource limits, and
installs an audit hook refusing sockets, subprocesses, os.system, ctypes calls, file writes and
reads outside the interpreter and the artifact. Only then is the artifact imported. Every
``BaseException`` raised by the transformation becomes that event's error; the loop goes on.

Imports: standard library and the wire/api modules only, so the host starts fast.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.machinery
import importlib.util
import json
import os
import resource
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from streamdr.artifacts.api import OutputEvent
from streamdr.artifacts.wire import encode_frame, event_from_doc, read_frame

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
MAX_OUTPUTS = 1000
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events refused whatever the workflow declares: starting programs, signalling other
# processes, calling C directly (ctypes would undo the hook), changing files.
ALWAYS_REFUSED = (
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "subprocess.Popen",
    "pty.spawn",
    "ctypes.",
    "os.remove",
    "os.rmdir",
    "os.rename",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.chmod",
    "os.chown",
    "os.mkdir",
    "os.utime",
    "shutil.",
)
# Loaded (and defused) before the hook; importing them afresh would bring the originals back.
REFUSED_IMPORTS = frozenset({"_posixsubprocess", "_ctypes"})


class IsolationUnavailable(Exception):
    """No network namespace could be made and the workflow did not declare network."""


def isolate_network(unshare: Callable[[int], int], network: bool) -> str:
    """Return how the network is confined; raises IsolationUnavailable to fail closed.

    A user namespace makes this work unprivileged; plain CLONE_NEWNET is the fallback for a
    privileged process where user namespaces are disabled.
    """
    if network:
        return "declared"
    errors = []
    for flags, name in ((CLONE_NEWUSER | CLONE_NEWNET, "user+net"), (CLONE_NEWNET, "net")):
        if unshare(flags) == 0:
            return f"namespace:{name}"
        errors.append(f"{name}: {os.strerror(ctypes.get_errno())}")
    raise IsolationUnavailable("cannot create a network namespace (" + "; ".join(errors) + ")")


def set_limits(cpu_seconds: int, memory_bytes: int) -> None:
    """Apply the host's resource limits (the hard CPU limit bounds the host's lifetime)."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Files cannot grow: a write beyond size 0 fails with EFBIG instead of a SIGXFSZ kill.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def readable_roots(artifact: Path) -> tuple[str, ...]:
    """Return the directories the transformation may read: interpreter, libraries, itself."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(artifact)}
    roots.update(p for p in sys.path if p)
    roots.add("/usr/share/zoneinfo")
    return tuple(sorted({os.path.realpath(r) for r in roots}))


def audit_hook(roots: tuple[str, ...], network: bool) -> Callable[[str, tuple[Any, ...]], None]:
    """Return an audit hook refusing what a transformation must not do (defence in depth)."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith(ALWAYS_REFUSED) or (not network and event.startswith("socket.")):
            raise PermissionError(f"streamdr transformation host: {event} is not allowed")
        if event == "import" and args[0] in REFUSED_IMPORTS:
            raise PermissionError(f"streamdr transformation host: importing {args[0]} is refused")
        if event == "open":
            _check_open(roots, *args[:3])

    return hook


def _check_open(roots: tuple[str, ...], path: Any, mode: Any, flags: Any) -> None:
    writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & _WRITE_FLAGS
    )
    if writes:
        raise PermissionError("streamdr transformation host: writing files is not allowed")
    if isinstance(path, int):
        return
    real = os.path.realpath(os.fsdecode(path))
    if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots):
        raise PermissionError(f"streamdr transformation host: reading {real} is not allowed")


def import_entry_point(directory: Path, entry_point: str, package: str) -> Callable[..., Any]:
    """Return the callable ``module:attr`` of ``directory`` imported under ``package``.

    Raises whatever the import raises, or TypeError when the attribute is not callable.
    """
    module_name, attr = entry_point.split(":", 1)
    spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
    spec.submodule_search_locations = [str(directory)]
    sys.modules[package] = importlib.util.module_from_spec(spec)
    module = importlib.import_module(f"{package}.{module_name}")
    func = getattr(module, attr, None)
    if not callable(func):
        raise TypeError(f"{entry_point} is not a callable")
    return func  # type: ignore[no-any-return]


def output_doc(index: int, out: object) -> dict[str, Any]:
    """Return one output as a wire document; raises ValueError naming what is wrong."""
    if not isinstance(out, OutputEvent):
        raise ValueError(f"output {index} is a {type(out).__name__}, not an OutputEvent")
    try:
        payload = json.loads(json.dumps(dict(out.payload), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"output {index} payload is not JSON-serialisable: {exc}") from exc
    headers = out.headers if isinstance(out.headers, dict) else dict(out.headers)
    return {"payload": payload, "key": out.key, "headers": headers}


def transform_one(func: Callable[..., Any], doc: dict[str, Any]) -> bytes:
    """Return the reply frame for one event document: its outputs or the error."""
    try:
        outputs = func(event_from_doc(doc))
    except BaseException as exc:  # SystemExit, KeyboardInterrupt too: the event fails, not us
        return _error_frame(f"transformation raised {_describe(exc)}")
    try:
        if not isinstance(outputs, list):
            raise ValueError(
                f"transformation returned {type(outputs).__name__}, expected list[OutputEvent]"
            )
        if len(outputs) > MAX_OUTPUTS:
            raise ValueError(f"transformation returned {len(outputs)} outputs (max {MAX_OUTPUTS})")
        # A reply too large or not encodable fails here, as this event's error.
        return encode_frame({"outputs": [output_doc(i, out) for i, out in enumerate(outputs)]})
    except BaseException as exc:  # a payload's __str__/__iter__ is artifact code as well
        return _error_frame(str(exc) if isinstance(exc, ValueError) else type(exc).__name__)


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except BaseException:  # an exception's __str__ is artifact code too
        return type(exc).__name__


def _error_frame(reason: str) -> bytes:
    try:
        return encode_frame({"error": reason})
    except BaseException:  # e.g. an error message too large for a frame
        return encode_frame({"error": "transformation failed (error message not encodable)"})


def serve(func: Callable[..., Any], frames: Iterable[dict[str, Any]], out: Any) -> None:
    """Answer each batch frame with one reply frame per event, flushed as it is ready."""
    for frame in frames:
        for doc in frame.get("events", []):
            out.write(transform_one(func, doc))
            out.flush()


def _frames(stream: Any) -> Iterable[dict[str, Any]]:
    while (frame := read_frame(stream)) is not None:
        yield frame


def _refused_fork_exec(*args: Any) -> None:
    raise PermissionError("streamdr transformation host: starting programs is not allowed")


def defuse_fork_exec() -> None:
    """Replace ``_posixsubprocess.fork_exec``, which starts programs without an audit event."""
    import _posixsubprocess

    _posixsubprocess.fork_exec = _refused_fork_exec


def confine(config: dict[str, Any]) -> str:
    """Confine this process as ``config`` says; return the network mode (see isolate_network)."""
    libc = ctypes.CDLL(None, use_errno=True)
    mode = isolate_network(libc.unshare, bool(config["network"]))
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    set_limits(int(config["cpu_seconds"]), int(config["memory_bytes"]))
    defuse_fork_exec()
    sys.addaudithook(audit_hook(readable_roots(Path(config["directory"])), config["network"]))
    return mode


def main() -> None:
    """Run the host: handshake on the first frame, then transform batches until EOF."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Artifact code printing to stdout would corrupt the frames: give it stderr instead.
    sys.stdout = sys.stderr
    config = read_frame(stdin)
    if config is None:
        return
    try:
        mode = confine(config)
    except (IsolationUnavailable, OSError, ValueError) as exc:
        stdout.write(encode_frame({"error": str(exc), "stage": "isolation"}))
        stdout.flush()
        return
    try:
        func = import_entry_point(
            Path(config["directory"]), config["entry_point"], config["package"]
        )
    except BaseException as exc:  # an artifact's import may raise anything, SystemExit too
        stdout.write(encode_frame({"error": f"{type(exc).__name__}: {exc}", "stage": "import"}))
        stdout.flush()
        return
    stdout.write(encode_frame({"ready": True, "network": mode}))
    stdout.flush()
    serve(func, _frames(stdin), stdout)
