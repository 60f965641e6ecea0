"""Hostile transformations run in a confined host: no secrets, no network, no programs, limits."""

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from streamdr.artifacts.api import ChangeEvent
from streamdr.artifacts.child import IsolationUnavailable, isolate_network
from streamdr.artifacts.errors import ArtifactLoadError
from streamdr.artifacts.host import HostLimits, HostSpec, TransformHost, minimal_env
from streamdr.artifacts.signing import generate_key, write_keypair
from streamdr.pipeline.transform import TransformFailed, run_transforms

HEAD = "import os, sys\nfrom streamdr.artifacts.api import OutputEvent\n\n"
SECRET = "s3cr3t-hmac-value"


def event(eid: str, **after: object) -> ChangeEvent:
    return ChangeEvent(
        eid,
        "src",
        "public.t",
        "insert",
        {"id": 1},
        None,
        after,
        datetime(2026, 1, 1, tzinfo=UTC),
        "0/1",
    )


@pytest.fixture
def host_of(tmp_path, monkeypatch):
    """Return a started host for a transform.py body; the worker's env holds secrets."""
    monkeypatch.setenv("STREAMDR_CLIENT_A_SECRET", SECRET)
    monkeypatch.setenv("KAFKA_PASSWORD", SECRET)
    hosts = []

    def make(body: str, limits: HostLimits | None = None, **consts: object) -> TransformHost:
        directory = tmp_path / f"artifact{len(hosts)}"
        directory.mkdir()
        values = "".join(f"{k} = {v!r}\n" for k, v in consts.items())
        (directory / "transform.py").write_text(HEAD + values + body)
        host = TransformHost(HostSpec(directory, "transform:transform", "_t", "t@1.0.0"), limits)
        host.start()
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


def test_minimal_env_keeps_no_secret():
    env = minimal_env({"STREAMDR_X": "a", "DB_PASSWORD": "b", "HMAC_KEY": "c", "TZ": "UTC"})
    assert env == {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "TZ": "UTC"}


def test_environment_holds_no_secret(host_of):
    host = host_of(
        "def transform(e):\n"
        "    found = [k for k, v in os.environ.items() if v == SECRET]\n"
        "    try:\n"
        "        found.append(open(f'/proc/{os.getppid()}/environ', 'rb').read().decode())\n"
        "    except OSError as exc:\n"
        "        found.append(type(exc).__name__)\n"
        "    return [OutputEvent({'env': dict(os.environ), 'found': found})]\n",
        SECRET=SECRET,
    )
    (out,) = host(event("e1"))
    assert SECRET not in str(out.payload)
    assert not any(k.startswith("STREAMDR_") for k in out.payload["env"])
    assert out.payload["found"] == ["PermissionError"]


def test_socket_is_refused_and_the_network_namespace_is_separate(host_of):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    host = host_of(
        "import socket\n"
        "def transform(e):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', PORT), timeout=2)\n"
        "        got = 'connected'\n"
        "    except OSError as exc:\n"
        "        got = type(exc).__name__\n"
        "    return [OutputEvent({'got': got, 'ns': os.readlink('/proc/self/ns/net')})]\n",
        PORT=port,
    )
    try:
        (out,) = host(event("e1"))
    finally:
        listener.close()
    assert out.payload["got"] == "PermissionError"
    assert out.payload["ns"] != os.readlink("/proc/self/ns/net")
    assert host.network_mode.startswith("namespace:")


def test_os_system_and_subprocess_are_refused(host_of, tmp_path):
    marker = tmp_path / "ran"
    host = host_of(
        "import subprocess\n"
        "def transform(e):\n"
        "    got = []\n"
        "    for run in (lambda: os.system('touch ' + MARKER),\n"
        "                lambda: subprocess.run(['touch', MARKER])):\n"
        "        try:\n"
        "            run()\n"
        "            got.append('ran')\n"
        "        except PermissionError:\n"
        "            got.append('refused')\n"
        "    return [OutputEvent({'got': got})]\n",
        MARKER=str(marker),
    )
    (out,) = host(event("e1"))
    assert out.payload["got"] == ["refused", "refused"]
    assert not marker.exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("    raise SystemExit(7)\n", "raised SystemExit: 7"),
        ("    raise KeyboardInterrupt\n", "raised KeyboardInterrupt"),
        ("    os._exit(7)\n", "host exited with code 7"),
        ("    while True:\n        pass\n", "timed out after 1s"),
        ("    b = bytearray(2 << 30)\n", "raised MemoryError"),
    ],
)
def test_hostile_event_dead_letters_and_the_next_is_processed(host_of, body, reason):
    host = host_of(
        "def transform(e):\n"
        "    if e.after.get('evil'):\n"
        + body.replace("    ", "        ", 1).replace("\n    ", "\n        ")
        + "    return [OutputEvent({'id': e.event_id})]\n",
        HostLimits(timeout_seconds=1.0, memory_bytes=1 << 30),
    )
    events = [event("a"), event("b", evil=True), event("c")]
    results = run_transforms(host, events)
    assert isinstance(results[1], TransformFailed) and reason in str(results[1])
    assert [d.idempotency_key for d in results[0]] == ["a"]  # type: ignore[union-attr]
    assert [d.idempotency_key for d in results[2]] == ["c"]  # type: ignore[union-attr]
    assert [d.body for d in run_transforms(host, [event("d")])[0]] == [b'{"id":"d"}']  # type: ignore[union-attr]


def test_a_host_that_exits_at_import_is_a_load_error(tmp_path):
    (tmp_path / "transform.py").write_text("raise SystemExit(7)\n")
    host = TransformHost(HostSpec(tmp_path, "transform:transform", "_t", "t@1.0.0"))
    with pytest.raises(ArtifactLoadError, match="SystemExit: 7") as info:
        host.start()
    assert info.value.exit_code == 2


def test_no_namespace_fails_closed_unless_network_is_declared():
    def refuse(flags: int) -> int:
        return -1

    with pytest.raises(IsolationUnavailable, match="cannot create a network namespace"):
        isolate_network(refuse, network=False)
    assert isolate_network(refuse, network=True) == "declared"
    assert isolate_network(lambda flags: 0, network=False) == "namespace:user+net"


def test_cli_publish_of_an_artifact_exiting_at_import_says_why(tmp_path):
    write_keypair(generate_key(), tmp_path / "k.key", tmp_path / "k.pub")
    settings = {
        "sites": {"primary": {"bootstrap_servers": "127.0.0.1:1"}},
        "stores": {"registry": {"url": str(tmp_path / "registry")}},
        "artifacts": {
            "registry_store": "registry",
            "trusted_keys": [str(tmp_path / "k.pub")],
            "signing_key": str(tmp_path / "k.key"),
        },
    }
    YAML().dump(settings, tmp_path / "streamdr.yaml")
    src = tmp_path / "src"
    src.mkdir()
    (src / "transform.py").write_text("raise SystemExit(7)\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamdr",
            "--config",
            str(tmp_path / "streamdr.yaml"),
            "artifacts",
            "publish",
            str(src),
            "--name",
            "evil",
            "--version",
            "1.0.0",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Error: artifact evil@1.0.0: importing transform:transform failed: SystemExit: 7" in (
        done.stderr
    )
    assert "Hint: " in done.stderr


def test_declared_network_reaches_a_local_listener(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    (tmp_path / "transform.py").write_text(
        HEAD + f"import socket\nPORT = {listener.getsockname()[1]}\n"
        "def transform(e):\n"
        "    socket.create_connection(('127.0.0.1', PORT), timeout=5).close()\n"
        "    return [OutputEvent({'got': 'connected'})]\n"
    )
    host = TransformHost(HostSpec(tmp_path, "transform:transform", "_t", "t@1.0.0", network=True))
    try:
        host.start()
        assert host(event("e1"))[0].payload == {"got": "connected"}
        assert host.network_mode == "declared"
    finally:
        host.close()
        listener.close()
