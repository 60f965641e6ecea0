"""Class archives (AppCDS) of the lab's JVMs: recorded once by a training run, then mapped.

A Kafka broker or MirrorMaker 2 JVM loads and verifies thousands of classes from the jars at
every start; on a 2-vCPU host running six brokers that is much of the time a restarted site or
a (re)started MM2 takes to come back. A class archive written by one real start lets later JVMs
map those classes instead (a broker started in 2.7-3.1 s instead of 5.2-5.8 s on a quiet host).
The training run is a one-broker lab in a temporary directory with an MM2 instance mirroring it
onto itself; both are stopped with SIGTERM and write their archive as they exit. Each archive is
written under a temporary name, checked by a JVM that must map it (a truncated archive crashes
the JVM that maps it), then renamed into place — so a lab only ever sees a complete one. It is
an optimisation: when training fails, the JVMs start from the jars as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from streamdr.errors import StreamdrError
from streamdr.lab.cluster import Lab
from streamdr.runtime import process
from streamdr.runtime.distribution import BROKER_MAIN, MIRROR_MAKER_MAIN, KafkaRuntime

TRAINING_SITE = "cds"
TRAINING_UP_TIMEOUT_S = 180.0
MM2_STARTED_TIMEOUT_S = 120.0
MM2_SETTLE_S = 5.0  # after "started": the connectors start their tasks
STOP_TIMEOUT_S = 60.0
CHECK_TIMEOUT_S = 60.0
MM2_STARTED_LINE = "Kafka MirrorMaker started"


ARCHIVED_MAINS = (BROKER_MAIN, MIRROR_MAKER_MAIN)


@dataclass(frozen=True)
class ArchiveResult:
    """One main class's archive: its path, or why there is none."""

    main_class: str
    path: Path | None
    recorded: bool
    problem: str | None = None


def ensure_class_archives(runtime: KafkaRuntime) -> list[ArchiveResult]:
    """Return the broker's and MirrorMaker 2's class archives, recording missing ones first.

    Never raises for a failed training run (each result names its problem): those JVMs then
    start without an archive, as before.
    """
    targets = {main: runtime.class_archive(main) for main in ARCHIVED_MAINS}
    missing = {main: path for main, path in targets.items() if not path.is_file()}
    if not missing:
        return [ArchiveResult(main, path, recorded=False) for main, path in targets.items()]
    next(iter(missing.values())).parent.mkdir(parents=True, exist_ok=True)
    staging = {m: p.with_name(f".{p.name}.{os.getpid()}.tmp") for m, p in missing.items()}
    try:
        problems = _record(runtime, staging)
        results = []
        for main, path in targets.items():
            if main not in missing:
                results.append(ArchiveResult(main, path, recorded=False))
                continue
            problem = problems.get(main) or _check(runtime, main, staging[main])
            if problem is not None:
                results.append(ArchiveResult(main, None, recorded=False, problem=problem))
                continue
            os.replace(staging[main], path)
            _remove_stale(main, path)
            results.append(ArchiveResult(main, path, recorded=True))
        return results
    finally:
        for path in staging.values():
            path.unlink(missing_ok=True)


def _record(runtime: KafkaRuntime, staging: dict[str, Path]) -> dict[str, str]:
    """Run a one-broker lab (and MM2 on it) writing the ``staging`` archives; return problems."""
    trainer = dataclasses.replace(runtime, record=tuple(staging.items()))
    problems: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="streamdr-class-archive-") as tmp:
        lab = Lab(Path(tmp) / "lab", trainer)
        try:
            layout = lab.up((TRAINING_SITE,), 1, timeout=TRAINING_UP_TIMEOUT_S)
            if MIRROR_MAKER_MAIN in staging:
                bootstrap = layout.sites[0].bootstrap_servers
                # Marked as the lab's: `lab.down` below would also reap it, were it left.
                mark = process.marker(lab.dir, TRAINING_SITE, "mm2")
                problem = _run_mm2(trainer, bootstrap, Path(tmp), mark)
                if problem:
                    problems[MIRROR_MAKER_MAIN] = problem
        except StreamdrError as exc:
            problems = dict.fromkeys(staging, f"the training lab did not start: {exc.message}")
        except OSError as exc:  # e.g. the JVM could not be executed
            problems = dict.fromkeys(staging, f"the training lab did not start: {exc}")
        finally:
            lab.down(purge=True)  # SIGTERM: the broker writes its archive as it exits
    for main, path in staging.items():
        if main not in problems and (not path.is_file() or path.stat().st_size == 0):
            problems[main] = "the training JVM wrote no archive (it did not exit cleanly in time)"
    return problems


def _run_mm2(runtime: KafkaRuntime, bootstrap: str, workdir: Path, mark: str) -> str | None:
    """Run MirrorMaker 2 mirroring the training broker onto itself until it has started.

    Returns a problem or None. The JVM is stopped with SIGTERM and writes its archive on exit.
    """
    props = workdir / "mm2.properties"
    props.write_text(_mm2_properties(bootstrap))
    logs = workdir / "mm2"
    logs.mkdir()
    cmd = runtime.command(MIRROR_MAKER_MAIN, [str(props)], heap_mb=256, log_dir=logs, marker=mark)
    proc = process.spawn(cmd, cwd=logs, log_file=logs / "stdout.log")
    try:
        if not _wait_for_line(proc, logs / "server.log", MM2_STARTED_LINE, MM2_STARTED_TIMEOUT_S):
            tail = (logs / "stdout.log").read_text(errors="replace").strip().splitlines()[-1:]
            return (
                f"MirrorMaker 2 did not log {MM2_STARTED_LINE!r} within "
                f"{MM2_STARTED_TIMEOUT_S:.0f}s{': ' + tail[0] if tail else ''}"
            )
        time.sleep(MM2_SETTLE_S)
        return None
    finally:
        process.stop(proc.pid, mark, timeout=STOP_TIMEOUT_S)


def _mm2_properties(bootstrap: str) -> str:
    """Return an MM2 configuration mirroring one single-broker cluster onto itself."""
    lines = [
        "clusters = src, dst",
        f"src.bootstrap.servers = {bootstrap}",
        f"dst.bootstrap.servers = {bootstrap}",
        "src->dst.enabled = true",
        "src->dst.topics = .*",
        "dst->src.enabled = false",
        "plugin.discovery = service_load",
        "emit.heartbeats.interval.seconds = 1",
        "emit.checkpoints.interval.seconds = 1",
        "sync.topic.configs.enabled = false",
        "sync.topic.acls.enabled = false",
    ]
    for key in (
        "replication.factor",
        "checkpoints.topic.replication.factor",
        "heartbeats.topic.replication.factor",
        "offset-syncs.topic.replication.factor",
        "offset.storage.replication.factor",
        "status.storage.replication.factor",
        "config.storage.replication.factor",
    ):
        lines.append(f"{key} = 1")
    return "\n".join(lines) + "\n"


def _wait_for_line(proc: subprocess.Popen[bytes], log: Path, line: str, timeout: float) -> bool:
    """Return True once ``log`` contains ``line``; False on timeout or when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if line in log.read_text(errors="replace"):
                return True
        time.sleep(0.5)
    return False


def _check(runtime: KafkaRuntime, main_class: str, staging: Path) -> str | None:
    """Return None when a JVM maps ``staging`` and runs Kafka's version check, else why not.

    ``kafka.Kafka --version`` is the check for every archive: mapping is what is checked (the
    archive's class path and JVM must match), not the main class.
    """
    cmd = [
        runtime.java,
        "-Xshare:on",  # fail instead of silently loading from the jars
        f"-XX:SharedArchiveFile={staging}",
        "-cp",
        f"{runtime.libs}/*",
        BROKER_MAIN,
        "--version",
    ]
    with tempfile.TemporaryDirectory(prefix="streamdr-class-archive-check-") as cwd:
        try:
            done = subprocess.run(  # our own java and archive path, no shell
                cmd, cwd=cwd, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"the {main_class} archive could not be checked: {exc}"
    if done.returncode != 0 or runtime.version not in done.stdout:
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        return f"a JVM could not map the {main_class} archive (exit {done.returncode}): {last[0]}"
    return None


def _remove_stale(main_class: str, current: Path) -> None:
    """Delete archives of ``main_class`` written by other JVMs (a JDK update leaves one)."""
    for old in current.parent.glob(f"{main_class}-*.jsa"):
        if old != current:
            with contextlib.suppress(OSError):
                old.unlink()
