"""The demo stack on the lab: retail PostgreSQL, signed sample workflows, and every process.

``up`` is plan-then-execute and idempotent: it reuses what exists (cluster, keys, published
versions, deployment, running processes) and starts what is missing. Child processes carry the
demo's settings path on their command line, which is how ``down`` recognises them (a stale PID
file never makes it signal a stranger).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamdr.artifacts.errors import ArtifactExistsError
from streamdr.artifacts.publish import publish_artifact
from streamdr.artifacts.signing import generate_key, write_keypair
from streamdr.demo.generator import RetailDb
from streamdr.errors import InputError, StateError
from streamdr.fsutil import atomic_write_text
from streamdr.harness.derived_settings import derive, write_settings
from streamdr.harness.local_postgres import LocalPostgres
from streamdr.pipeline.endpoint.client import EndpointClient
from streamdr.runtime.ports import free_ports
from streamdr.settings.model import (
    ArtifactSettings,
    ConfigRepoSettings,
    MetadataDbSettings,
    Settings,
    SourceSettings,
    StoreSettings,
)
from streamdr.store.db import MetadataStore
from streamdr.workflows.context import ConfigContext
from streamdr.workflows.deploy import deploy
from streamdr.workflows.repo import ConfigRepo

SECRET_ENV = "STREAMDR_DEMO_SECRET"
SOURCE = "retail"
DATABASE = "retail"
PROCESSES = ("endpoint", "cdc", "workers", "generator")
# inventory-to-client-b is the batched sample (delivery.batch in its workflow file).
SAMPLES = {
    "orders-to-client-a": "client-a",
    "inventory-to-client-b": "client-b",
    "catalog-to-client-c": "client-c",
}


def examples_dir() -> Path:
    """Return the repository's ``examples/`` (sample transformations and workflows)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "examples" / "transformations").is_dir():
            return parent / "examples"
    raise InputError(
        "cannot find examples/ (sample transformations and workflows)",
        hint="Run the demo from a streamdr source checkout (`make demo-pipeline`).",
    )


@dataclass
class DemoState:
    """Ports and paths the demo chose the first time, kept in ``demo.json``."""

    pg_port: int
    pg_dir: str
    endpoint_port: int
    worker_port: int
    secret: str

    @classmethod
    def load_or_new(cls, path: Path, demo_dir: Path, endpoint_port: int) -> DemoState:
        """Return the saved state, or a new one with free ports."""
        if path.exists():
            return cls(**json.loads(path.read_text()))
        pg_port, worker_port = free_ports(2)
        state = cls(
            pg_port, str(pg_dir_for(demo_dir)), endpoint_port, worker_port, secrets.token_hex(16)
        )
        # Private (0600) by default: it holds the demo's signing secret.
        atomic_write_text(path, json.dumps(state.__dict__, indent=2))
        return state


def pg_dir_for(demo_dir: Path) -> Path:
    """Return where the demo cluster lives: in the demo dir, or /tmp when root's home hides it.

    As root the cluster runs as the ``postgres`` user, who must be able to reach the directory.
    """
    if os.geteuid() != 0 or all(os.stat(p).st_mode & 0o001 for p in demo_dir.resolve().parents):
        return demo_dir / "postgres"
    digest = hashlib.sha256(str(demo_dir.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"streamdr-demo-pg-{digest}" / "data"


class DemoStack:
    """The demo of one lab (``<lab_dir>/demo``)."""

    def __init__(
        self, base: Settings, demo_dir: Path, endpoint_port: int = 8900, *, create: bool = False
    ) -> None:
        self.base = base
        self.dir = demo_dir
        if not create and not (demo_dir / "demo.json").exists():
            raise StateError(f"no demo in {demo_dir}", hint="Start it with `streamdr demo up`.")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state = DemoState.load_or_new(self.dir / "demo.json", self.dir, endpoint_port)
        pg_dir = Path(self.state.pg_dir)
        if os.geteuid() == 0:
            pg_dir.parent.mkdir(parents=True, exist_ok=True)
            pg_dir.parent.chmod(0o755)
        self.pg = LocalPostgres(pg_dir, self.state.pg_port)
        self.config = self.dir / "streamdr.yaml"

    # ----- settings ----------------------------------------------------------------------
    def settings(self) -> Settings:
        """Return the demo settings: the lab's plus the retail source, repo and registry."""

        source = SourceSettings(
            kind="postgres",
            dsn=self.pg.dsn(DATABASE),
            topic_prefix="retail",
            tables=[
                "public.orders",
                "public.order_lines",
                "public.inventory_moves",
                "public.catalog",
            ],
        )
        stores = {
            **self.base.stores,
            "demo-registry": StoreSettings(url=str(self.dir / "registry")),
            # Git bundles of the demo's config repository (`config backup`, hourly under serve).
            "demo-config-backups": StoreSettings(url=str(self.dir / "config-backups")),
        }
        return derive(
            self.base,
            sources={**self.base.sources, SOURCE: source},
            stores=stores,
            config_repo=ConfigRepoSettings(
                path=str(self.dir / "config"), branch="main", backup_store="demo-config-backups"
            ),
            # The demo's deployments live in its own metadata DB: in the lab's, they would name a
            # source (retail) that the lab's streamdr.yaml does not define, and every command run
            # with the lab's settings (replicate, failover, check) would refuse them.
            metadata_db=MetadataDbSettings(url=f"sqlite:///{self.dir / 'streamdr.db'}"),
            artifacts=ArtifactSettings(
                registry_store="demo-registry",
                trusted_keys=[str(self.dir / "keys/demo.pub")],
                signing_key=str(self.dir / "keys/demo.key"),
                cache_dir=str(self.dir / "cache"),
            ),
        )

    def env(self) -> dict[str, str]:
        """Return the environment the demo's processes need (the signing secret)."""
        return {**os.environ, SECRET_ENV: self.state.secret}

    # ----- up ------------------------------------------------------------------------------
    def up(self, rate: float) -> list[str]:
        """Bring everything up; return what was done, step by step."""
        done = []
        self.pg.init()
        self.pg.start()
        self.pg.create_database(DATABASE)
        db = RetailDb.postgres(self.pg.dsn(DATABASE))
        db.create_schema()
        db.close()
        done.append(f"PostgreSQL on 127.0.0.1:{self.pg.port}, database {DATABASE}")
        settings = self.settings()
        write_settings(settings, self.config)
        done += self._publish_and_deploy(settings)
        done += self._start_processes(rate)
        return done

    def _publish_and_deploy(self, settings: Settings) -> list[str]:

        done = []
        if not (self.dir / "keys/demo.key").exists():
            write_keypair(generate_key(), self.dir / "keys/demo.key", self.dir / "keys/demo.pub")
            done.append("generated the demo signing key")
        examples = examples_dir()
        for name in SAMPLES:
            try:
                publish_artifact(settings, examples / "transformations" / name, name, "1.0.0")
                done.append(f"published {name}@1.0.0 (signed)")
            except ArtifactExistsError:
                pass
        done += self._deploy(settings, examples)
        return done

    def _deploy(self, settings: Settings, examples: Path) -> list[str]:
        """Commit the sample workflows (endpoint port filled in) and `config deploy` them."""

        if not (self.dir / "config").exists():
            repo = ConfigRepo.init(self.dir / "config", "main")
            repo.git("config", "user.name", "streamdr-demo")
            repo.git("config", "user.email", "streamdr-demo@localhost")
        files = {
            f"workflows/{path.parent.name}/{path.name}": path.read_text()
            .replace("127.0.0.1:8900", f"127.0.0.1:{self.state.endpoint_port}")
            .encode()
            for path in sorted((examples / "workflows").glob("*/*.yaml"))
        }
        ctx = ConfigContext.open(settings, MetadataStore.from_settings(settings))
        head = ctx.repo.head()
        if (ctx.workflow_files(head) if head else {}) != files:
            commit = ctx.repo.commit_files(head, files, "demo: sample workflows", "streamdr-demo")
            ctx.repo.move_branch(commit, head, "demo: sample workflows")
        result = deploy(ctx, None, "streamdr-demo")
        if result.deployment is None:
            return [f"{len(files)} sample workflows already deployed"]
        return [f"deployed {len(files)} sample workflows (deployment {result.deployment.id})"]

    def _start_processes(self, rate: float) -> list[str]:
        commands = {
            "endpoint": [
                "endpoint",
                "serve",
                "--port",
                str(self.state.endpoint_port),
                "--db",
                str(self.dir / "endpoint.db"),
                "--secret-env",
                SECRET_ENV,
            ],
            "cdc": ["cdc", "run", SOURCE],
            "workers": ["run", "--port", str(self.state.worker_port)],
            "generator": ["demo", "generate", "--rate", str(rate)],
        }
        done = []
        for name in PROCESSES:
            if self.pid(name) is None:
                self._spawn(name, commands[name])
                done.append(f"started {name}")
                if name == "endpoint":
                    time.sleep(1.0)  # workers start delivering at once; let it bind first
        return done

    def _spawn(self, name: str, args: list[str]) -> None:
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        with (logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamdr", "--config", str(self.config), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                start_new_session=True,
            )
        (self.dir / f"{name}.pid").write_text(f"{proc.pid}\n")

    # ----- processes -----------------------------------------------------------------------
    def pid(self, name: str) -> int | None:
        """Return the PID of a running demo process, or None."""
        try:
            pid = int((self.dir / f"{name}.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            return None
        return pid if str(self.config) in cmdline else None

    def down(self) -> list[str]:
        """Stop every demo process and the demo PostgreSQL; keep data for the next `up`."""
        done = []
        for name in reversed(PROCESSES):
            pid = self.pid(name)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    if self.pid(name) is None:
                        break
                    time.sleep(0.1)
                else:
                    os.kill(pid, signal.SIGKILL)
                done.append(f"stopped {name}")
            (self.dir / f"{name}.pid").unlink(missing_ok=True)
        if self.pg.running():
            self.pg.stop()
            done.append("stopped PostgreSQL")
        return done

    def status(self) -> dict[str, Any]:
        """Return processes, endpoint counts per client, and the workers' readiness."""
        import httpx

        doc: dict[str, Any] = {
            "processes": {n: self.pid(n) for n in PROCESSES},
            "postgres": self.pg.running(),
            "config": str(self.config),
        }
        client = EndpointClient(f"http://127.0.0.1:{self.state.endpoint_port}", timeout=3)
        try:
            doc["endpoint"] = client.stats()
        except StateError as exc:
            doc["endpoint"] = {"error": exc.message}
        except Exception as exc:  # unreachable endpoint: report, do not fail the status
            doc["endpoint"] = {"error": str(exc)}
        finally:
            client.close()
        try:
            doc["workers"] = httpx.get(
                f"http://127.0.0.1:{self.state.worker_port}/ready", timeout=3
            ).json()
        except (httpx.HTTPError, ValueError) as exc:
            doc["workers"] = {"error": str(exc)}
        return doc
