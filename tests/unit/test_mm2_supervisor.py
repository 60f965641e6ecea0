"""The MM2 supervisor with stand-in children (small Python processes): restart on death with
backoff, reload of changed children only, and `lab down` stopping supervisor and children."""

import json
import sys
import threading
import time

from streamdr.fsutil import write_json_atomic
from streamdr.lab.cluster import Lab
from streamdr.replication.mm2.supervisor import Supervisor
from streamdr.runtime import process

SLEEPER = "import time\nwhile True: time.sleep(1)"
CRASHER = "import time; time.sleep(0.3); raise SystemExit(3)"


def child(tmp_path, name, code, version=1):
    mark = process.marker(tmp_path, "mm2", f"test-{name}")
    return {
        "name": name,
        "target": name,
        "cmd": [sys.executable, "-c", code, f"-Dstreamdr.lab={mark}"],
        "dir": str(tmp_path / name),
        "marker": mark,
        "fingerprint": str(version),
    }


def run_for(sup, _seconds):
    thread = threading.Thread(target=sup.run, daemon=True)
    thread.start()
    return thread


def wait(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def status(tmp_path):
    try:
        return json.loads((tmp_path / "status.json").read_text())
    except (OSError, ValueError):
        return {"children": [{"restarts": 0, "pid": None, "name": "?"}], "events": []}


def test_dead_child_is_restarted_with_backoff_and_reported(tmp_path):
    write_json_atomic(
        tmp_path / "run.json", {"generation": 1, "children": [child(tmp_path, "dr", CRASHER)]}
    )
    sup = Supervisor(tmp_path)
    thread = run_for(sup, 0)
    try:
        assert wait(lambda: status(tmp_path)["children"][0]["restarts"] >= 2)
        events = [e["event"] for e in status(tmp_path)["events"]]
        assert events[:3] == ["started", "died", "restarted"]
        died = [e for e in status(tmp_path)["events"] if e["event"] == "died"]
        assert died[0]["exit_code"] == 3
        assert [d["restart_in_seconds"] for d in died[:2]] == [1.0, 2.0]
    finally:
        sup.stopping.set()
        thread.join(30)
    assert status(tmp_path)["state"] == "stopped"


def test_reload_restarts_only_changed_children(tmp_path):
    a, b = child(tmp_path, "a", SLEEPER), child(tmp_path, "b", SLEEPER)
    write_json_atomic(tmp_path / "run.json", {"generation": 1, "children": [a, b]})
    sup = Supervisor(tmp_path)
    thread = run_for(sup, 0)
    try:
        assert wait(lambda: all(c["pid"] for c in status(tmp_path)["children"]))
        before = {c["name"]: c["pid"] for c in status(tmp_path)["children"]}
        time.sleep(0.05)  # a new mtime
        b2 = child(tmp_path, "b", SLEEPER, version=2)
        write_json_atomic(tmp_path / "run.json", {"generation": 2, "children": [a, b2]})

        def reloaded():
            doc = status(tmp_path)
            pids = {c["name"]: c["pid"] for c in doc["children"]}
            return doc["generation"] == 2 and pids["b"] and pids["b"] != before["b"]

        assert wait(reloaded)
        after = {c["name"]: c["pid"] for c in status(tmp_path)["children"]}
        assert after["a"] == before["a"]
        assert not process.is_running(before["b"], b["marker"])
    finally:
        sup.stopping.set()
        thread.join(30)
    assert not process.is_running(after["a"], a["marker"])


def test_lab_down_stops_the_supervisor_before_anything_else(tmp_path):
    lab_dir = tmp_path / "lab"
    run_dir = lab_dir / "mm2" / "test"
    run_dir.mkdir(parents=True)
    spec = child(lab_dir, "dr", SLEEPER)
    spec["dir"] = str(run_dir / "dr")
    write_json_atomic(run_dir / "run.json", {"generation": 1, "children": [spec]})
    mark = process.marker(lab_dir.resolve(), process.SUPERVISOR, "mm2-test")
    proc = process.spawn(
        [
            sys.executable,
            "-m",
            "streamdr.replication.supervise",
            str(run_dir),
            f"-Dstreamdr.lab={mark}",
        ],
        cwd=run_dir,
        log_file=run_dir / "supervisor.out",
    )
    assert wait(
        lambda: (
            (run_dir / "status.json").exists()
            and json.loads((run_dir / "status.json").read_text())["children"][0]["pid"]
        )
    )
    jvm = json.loads((run_dir / "status.json").read_text())["children"][0]["pid"]
    assert Lab(lab_dir).down() >= 1
    proc.wait(timeout=30)
    assert not process.is_running(jvm, spec["marker"])
    assert json.loads((run_dir / "status.json").read_text())["state"] == "stopped"


def test_restart_request_restarts_only_the_named_target_and_counts_it(tmp_path):
    a, b = child(tmp_path, "a", SLEEPER), child(tmp_path, "b", SLEEPER)
    write_json_atomic(tmp_path / "run.json", {"generation": 1, "children": [a, b]})
    sup = Supervisor(tmp_path)
    thread = run_for(sup, 0)
    try:
        assert wait(lambda: all(c["pid"] for c in status(tmp_path)["children"]))
        before = {c["name"]: c["pid"] for c in status(tmp_path)["children"]}
        write_json_atomic(tmp_path / "restart.json", {"targets": ["b"], "at": time.time()})

        def restarted():
            pids = {c["name"]: c["pid"] for c in status(tmp_path)["children"]}
            return pids["b"] and pids["b"] != before["b"]

        assert wait(restarted)
        doc = status(tmp_path)
        after = {c["name"]: c for c in doc["children"]}
        assert after["a"]["pid"] == before["a"]
        assert (after["a"]["restarts"], after["b"]["restarts"]) == (0, 1)
        assert not process.is_running(before["b"], b["marker"])
        assert any(e["event"] == "restarting" and e["child"] == "b" for e in doc["events"])
    finally:
        sup.stopping.set()
        thread.join(30)


def test_restart_request_from_before_the_supervisor_or_malformed_is_ignored(tmp_path):
    a = child(tmp_path, "a", SLEEPER)
    write_json_atomic(tmp_path / "run.json", {"generation": 1, "children": [a]})
    write_json_atomic(tmp_path / "restart.json", {"targets": ["a"], "at": time.time() - 60})
    sup = Supervisor(tmp_path)
    thread = run_for(sup, 0)
    try:
        assert wait(lambda: status(tmp_path)["children"][0]["pid"])
        first = status(tmp_path)["children"][0]["pid"]
        for bad in ({"targets": "a", "at": time.time()}, ["a"], {"targets": ["a"]}):
            time.sleep(0.05)  # a new mtime
            write_json_atomic(tmp_path / "restart.json", bad)
            time.sleep(1.2)  # two supervisor loops
            assert status(tmp_path)["children"][0]["pid"] == first
        assert not any(e["event"] == "restarting" for e in status(tmp_path)["events"])
    finally:
        sup.stopping.set()
        thread.join(30)
