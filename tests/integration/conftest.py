"""Fixtures of the pipeline's integration tests: a real PostgreSQL for the session.

PostgreSQL refuses to run as root; as root the cluster belongs to the ``postgres`` OS user and
lives in a /tmp directory that user can reach (pytest's own tmp dirs are private to root).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamdr.harness.local_postgres import LocalPostgres
from streamdr.runtime.ports import free_ports
from streamdr.settings.model import Settings
from tests.integration.pipeline_env import PipelineEnv


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL cluster with wal_level=logical on a free loopback port (initdb + pg_ctl)."""
    root = Path(tempfile.mkdtemp(prefix="streamdr-pg-"))
    root.chmod(0o755)
    pg = LocalPostgres(root / "data", free_ports(1)[0])
    pg.init()
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pipeline_env(
    lab: object, lab_settings: Settings, postgres: LocalPostgres, tmp_path: Path
) -> Iterator[PipelineEnv]:
    """A pipeline on the lab (its own database, sandbox and running endpoint), closed after."""
    env = PipelineEnv(postgres, lab_settings, tmp_path)
    env.endpoint.start()
    try:
        yield env
    finally:
        env.close()
