"""Harness child processes, load and polling, with real (tiny) child processes and threads."""

import signal
import sys
import threading
import time

import psycopg
import pytest

from streamdr.errors import StateError
from streamdr.harness.load import Load
from streamdr.harness.polling import poll_until, wait_for
from streamdr.harness.processes import ChildProcesses, alerts_in, probe, streamdr_command
from streamdr.runtime.ports import free_ports

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)",
]


def test_children_log_by_key_and_stop_by_signal(tmp_path):
    children = ChildProcesses(tmp_path / "logs", {"HARNESS_X": "1"})
    echo = [sys.executable, "-c", "import os; print('x=' + os.environ['HARNESS_X'])"]
    children.spawn("echo", echo).wait(timeout=30)
    assert (tmp_path / "logs/echo.log").read_text() == "x=1\n"
    proc = children.spawn("sleeper", SLEEPER)
    assert children.running("sleeper") and not children.running("echo")
    children.stop(["sleeper"], signal.SIGKILL)  # kill -9
    assert proc.returncode == -signal.SIGKILL and not children.running("sleeper")


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    children = ChildProcesses(tmp_path)
    proc = children.spawn("stubborn", STUBBORN, log="shared")
    assert poll_until(lambda: "up" in (tmp_path / "shared.log").read_text(), 30, 0.05)
    started = time.monotonic()
    children.stop_all(grace=0.5)
    assert proc.returncode == -signal.SIGKILL and time.monotonic() - started < 15


def test_alerts_are_read_from_every_process_log(tmp_path):
    assert alerts_in(tmp_path / "missing") == []
    (tmp_path / "cdc-a.log").write_text(
        "CDC a → site dr\n"
        "2026-11-29 15:14:29,350 ERROR streamdr.pipeline.cdc.reader: ALERT cdc a lag: 700s\n"
    )
    (tmp_path / "worker-dr.log").write_text("Workers for wf\n")
    assert alerts_in(tmp_path) == ["cdc-a: cdc a lag: 700s"]
    assert ChildProcesses(tmp_path).alerts() == ["cdc-a: cdc a lag: 700s"]


def test_probe_of_a_port_nobody_listens_on_is_down():
    assert probe(free_ports(1)[0]) == (0, {})


def test_streamdr_command_runs_this_interpreter_with_the_config(tmp_path):
    cmd = streamdr_command(tmp_path / "s.yaml", ["run", "--port", "1"])
    config = str(tmp_path / "s.yaml")
    assert cmd == [sys.executable, "-m", "streamdr", "--config", config, "run", "--port", "1"]


def test_wait_for_names_what_it_waited_for():
    assert poll_until(lambda: True, 0)
    with pytest.raises(StateError, match="waiting for the slot"):
        wait_for(lambda: False, 0.1, "the slot")


def test_a_wait_on_a_child_ends_when_it_exits_and_names_its_error(tmp_path):
    # Seen in CI: the CDC reader exited at once and the drill still waited 180 s for its slot.
    children = ChildProcesses(tmp_path / "logs")
    dying = [sys.executable, "-c", "print('Error: Kafka refused \\x1b[31m x'); raise SystemExit(2)"]
    children.spawn("cdc", dying)
    started = time.monotonic()
    with pytest.raises(StateError, match=r"cdc exited \(code 2\) before the slot: Error: Kafka"):
        children.wait_while_running("cdc", lambda: False, 60, "the slot")
    assert time.monotonic() - started < 30
    assert "\x1b" not in (children.last_error("cdc") or "x\x1b")


def test_a_wait_on_a_running_child_returns_when_the_condition_holds(tmp_path):
    children = ChildProcesses(tmp_path / "logs")
    children.spawn("sleeper", SLEEPER)
    try:
        children.wait_while_running("sleeper", lambda: True, 5, "nothing")
        assert children.last_error("sleeper") is None
    finally:
        children.stop_all(grace=5)


def test_load_keeps_only_acknowledged_writes_and_counts_refusals():
    calls = iter(range(1000))
    refuse = threading.Event()

    def write() -> list[int]:
        n = next(calls)
        if refuse.is_set():
            raise psycopg.OperationalError("database down")
        return [n]

    load = Load(write, rate=200.0).start()
    assert poll_until(lambda: len(load.committed) >= 5, 10, 0.01)
    refuse.set()
    assert poll_until(lambda: load.failures >= 2, 10, 0.05)
    committed = load.stop()
    assert load.errors[0] == "database down" and len(load.errors) == load.failures
    numbers = sorted(committed)
    assert numbers == list(range(len(numbers)))  # the refused calls are not in the truth
    assert all(isinstance(at, float) for at in committed.values())
