"""The lab's own lifecycle on a small separate lab (the shared one stays untouched)."""

import os
import socket

import pytest

from streamdr.errors import StateError
from streamdr.lab.cluster import Lab
from streamdr.lab.layout import node_dir
from streamdr.runtime import process


def marked(lab: Lab) -> list[int]:
    return process.find_marked(f"{lab.dir}#")


def test_session_lab_runs_two_sites_of_three(lab):
    nodes = lab.status()
    assert {(n.site, n.node_id) for n in nodes} == {
        (s, i) for s in ("primary", "dr") for i in (1, 2, 3)
    }
    assert all(n.running for n in nodes)
    assert lab.settings_file.exists()


def test_small_lab_up_twice_stale_pid_port_in_use_and_down(tmp_path):
    small = Lab(tmp_path / "lab")
    try:
        layout = small.up(("solo",), 1, timeout=90)
        node = layout.site("solo").node(1)
        pid = small.node_pid(node)
        assert pid and pid in marked(small)

        small.up()  # harmless: nothing restarted
        assert small.node_pid(node) == pid

        assert small.down() == 1
        assert marked(small) == []

        # A stale PID file naming a live, unrelated process is not mistaken for the broker.
        (node_dir(small.dir, node) / "pid").write_text(f"{os.getpid()}\n")
        assert [n.running for n in small.status()] == [False]

        with socket.socket() as blocker:
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            blocker.bind(("127.0.0.1", node.port))
            blocker.listen()
            with pytest.raises(StateError) as info:
                small.up()
            assert str(node.port) in info.value.message
            assert marked(small) == []  # a failed up leaves no JVM behind

        small.up(timeout=90)
        assert small.status()[0].running
    finally:
        small.down(purge=True)
    assert not small.dir.exists()
    assert marked(small) == []


def test_half_dead_lab_is_repaired_by_up(lab):
    assert lab.kill_broker("dr", 3)
    assert not next(n for n in lab.status() if n.site == "dr" and n.node_id == 3).running
    lab.up()
    assert all(n.running for n in lab.status())


def test_other_shape_is_refused(lab):
    with pytest.raises(StateError) as info:
        lab.up(("primary",), 1)
    assert "lab down --purge" in (info.value.hint or "")
