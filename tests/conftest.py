"""Shared fixtures: the session's real Kafka lab and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamdr.lab.cluster import Lab
from streamdr.settings import Settings, load_settings

# scripts/run-tests names the test that was running when pytest itself dies (a native abort
# prints only its stack, whose tail does not say which test it was).
_PROGRESS_LOG = os.environ.get("STREAMDR_TEST_PROGRESS_LOG")


# Tests that kill -9 and restart a whole site run first among the lab tests: in CI a
# site-failover drill's "restart the site" step took 125 s late in the session against 82-97 s in
# a short session. (Log loading was 4.4 s of such a restart when looked at; the rest is three JVMs
# starting at once on a host busy with the drill — see the class archives in docs/lab.md.)
RESTART_A_SITE_FIRST = ("tests/integration/test_site_failover_drill.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the site-restarting tests just before the first other integration test."""
    first = [i for i in items if i.nodeid.startswith(RESTART_A_SITE_FIRST)]
    if not first:
        return
    rest = [i for i in items if not i.nodeid.startswith(RESTART_A_SITE_FIRST)]
    at = next(
        (k for k, i in enumerate(rest) if i.nodeid.startswith("tests/integration/")), len(rest)
    )
    items[:] = [*rest[:at], *first, *rest[at:]]


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Append ``<time> <nodeid>`` to the progress log, when one is asked for."""
    if not _PROGRESS_LOG:
        return
    import time

    line = f"{time.strftime('%H:%M:%S')} start {nodeid}\n".encode()
    fd = os.open(_PROGRESS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One two-site, three-broker lab for the whole session (real Kafka from the jars)."""
    the_lab = Lab(tmp_path_factory.mktemp("session-lab") / "lab")
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(scope="session")
def lab_settings(lab: Lab) -> Settings:
    """The settings file the session lab wrote."""
    return load_settings(lab.settings_file)


def run_cli(
    *args: str,
    config: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m streamdr ARGS`` and return the finished process (text output)."""
    full_env = {**os.environ, **(env or {})}
    if config is not None:
        full_env["STREAMDR_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "streamdr", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3 API server (moto in server mode) on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    from streamdr.runtime.ports import free_ports

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_ports(1)[0]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh, empty bucket on the S3 server; yields its name."""
    import uuid

    import pyarrow.fs as pafs

    name = f"test-{uuid.uuid4().hex[:10]}"
    fs = pafs.S3FileSystem(
        endpoint_override=s3_server, region="us-east-1", allow_bucket_creation=True
    )
    fs.create_dir(name)
    return name
