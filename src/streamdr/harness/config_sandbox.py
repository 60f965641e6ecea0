"""A throw-away config environment for the config drills: repository, registry, keys, DB.

Drills inject faults (bad deploys, force resets), so they never touch the production config
repository or metadata DB. They do use the real code paths (git, signing, registry, loader,
deploy, rollback, recover) and, when the settings name an artifact registry, the same object
store under a private ``_drills/<id>`` prefix, so store latency and credentials are exercised.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from streamdr.artifacts.api import ChangeEvent
from streamdr.artifacts.loader import load_transform
from streamdr.artifacts.publish import publish_artifact
from streamdr.artifacts.signing import generate_key, write_keypair
from streamdr.clock import utcnow
from streamdr.objectstore.store import ObjectStore
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
from streamdr.workflows.model import Workflow
from streamdr.workflows.repo import ConfigRepo

ARTIFACT = "drill-transform"
GOOD, BUGGY = "1.0.0", "1.0.1"
ACTOR = "streamdr-drill"
_GOOD_CODE = '''"""Drill transformation: passes the row through."""
from streamdr.artifacts.api import OutputEvent


def transform(event):
    return [OutputEvent(payload=dict(event.after or {}), key=event.event_id)]
'''
_BUGGY_CODE = '''"""Drill transformation with a bug: it fails on every event."""


def transform(event):
    raise KeyError("customer_id")
'''
WORKFLOWS = {
    "workflows/client-a/orders-to-crm.yaml": ("orders-to-crm", "client-a", "public.orders"),
    "workflows/client-a/returns-to-crm.yaml": ("returns-to-crm", "client-a", "public.returns"),
    "workflows/client-b/stock-feed.yaml": ("stock-feed", "client-b", "public.stock"),
}


def workflow_yaml(name: str, client: str, table: str, version: str = GOOD) -> bytes:
    """Return a valid workflow file for the drill source."""
    return (
        f"name: {name}\nclient: {client}\ntier: standard\n"
        f"source:\n  database: drill\n  tables: [{table}]\n"
        f"transformation:\n  name: {ARTIFACT}\n  version: {version}\n"
        f"sink:\n  kind: http\n  url: http://127.0.0.1:9/{name}\n"
    ).encode()


def _registry_store(base: Settings, root: Path, run_id: str) -> StoreSettings:
    """Return the registry store: a private prefix of the configured one, else a local dir."""
    if base.artifacts is None or base.artifacts.registry_store not in base.stores:
        return StoreSettings(url=str(root / "registry"))
    cfg = base.stores[base.artifacts.registry_store]
    if cfg.scheme == "file":
        local = Path(cfg.url.removeprefix("file://"))
        url = str((local if local.is_absolute() else base.base_dir() / local) / "_drills" / run_id)
    else:
        url = f"{cfg.url.rstrip('/')}/_drills/{run_id}"
    return cfg.model_copy(update={"url": url})


@dataclass
class Sandbox:
    """A config environment in a temporary directory; :meth:`close` removes it."""

    root: Path
    settings: Settings
    store: MetadataStore
    repo: ConfigRepo

    @classmethod
    def create(cls, base: Settings) -> Sandbox:
        """Return a sandbox with a signing key, an empty registry, repository and DB."""
        root = Path(tempfile.mkdtemp(prefix="streamdr-drill-"))
        run_id = uuid.uuid4().hex[:12]
        write_keypair(generate_key(), root / "keys/drill.key", root / "keys/drill.pub")
        (root / "source.db").touch()
        settings = Settings(
            sites=base.sites,
            active_site=base.active_site,
            stores={
                "registry": _registry_store(base, root, run_id),
                "backups": StoreSettings(url=str(root / "backups")),
            },
            metadata_db=MetadataDbSettings(url=f"sqlite:///{root / 'meta.db'}"),
            sources={
                "drill": SourceSettings(
                    kind="sqlite", path=str(root / "source.db"), topic_prefix="drill"
                )
            },
            config_repo=ConfigRepoSettings(
                path=str(root / "repo"), branch="main", backup_store="backups"
            ),
            artifacts=ArtifactSettings(
                registry_store="registry",
                trusted_keys=[str(root / "keys/drill.pub")],
                signing_key=str(root / "keys/drill.key"),
                cache_dir=str(root / "cache"),
            ),
        )
        repo = ConfigRepo.init(root / "repo", "main")
        repo.git("config", "user.name", ACTOR)
        repo.git("config", "user.email", f"{ACTOR}@localhost")
        return cls(root, settings, MetadataStore.from_settings(settings), repo)

    def context(self) -> ConfigContext:
        """Return the config context of the sandbox."""
        return ConfigContext.open(self.settings, self.store)

    def publish_samples(self) -> None:
        """Publish the good and the buggy version of the drill transformation."""
        for version, code in ((GOOD, _GOOD_CODE), (BUGGY, _BUGGY_CODE)):
            src = self.root / "src" / version
            src.mkdir(parents=True)
            (src / "transform.py").write_text(code)
            publish_artifact(self.settings, src, ARTIFACT, version)

    def commit_initial(self) -> str:
        """Commit a README, then the three sample workflows; return the second commit."""
        self.commit({"README.md": b"Drill config repository.\n"}, "create the repository")
        files: dict[str, bytes | None] = {p: workflow_yaml(*w) for p, w in WORKFLOWS.items()}
        return self.commit(files, "add client workflows")

    def commit(self, changes: dict[str, bytes | None], message: str) -> str:
        """Commit ``changes`` on the branch (moving it) and return the commit."""
        head = self.repo.head()
        commit = self.repo.commit_files(head, changes, message, ACTOR)
        self.repo.move_branch(commit, head, message)
        return commit

    def close(self) -> None:
        """Remove the sandbox, including its objects in a remote registry store."""
        registry = ObjectStore("registry", self.settings.stores["registry"], self.root)
        for obj in registry.list():
            registry.delete(obj.key)
        if registry.is_local:
            drills_dir = Path(registry.root_path())
            shutil.rmtree(drills_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                drills_dir.parent.rmdir()  # `_drills` itself, when no other drill is running
        shutil.rmtree(self.root, ignore_errors=True)


def smoke_test(settings: Settings, workflows: list[Workflow]) -> dict[str, str]:
    """Run one synthetic event through each workflow's transformation; return failures by name."""
    failures = {}
    for wf in workflows:
        event = ChangeEvent(
            event_id=f"drill/{wf.name}/1",
            source="drill",
            table=wf.source.tables[0] if wf.source.tables else "public.t",
            operation="insert",
            key={"id": 1},
            before=None,
            after={"id": 1, "customer_id": 7},
            commit_time=utcnow(),
            position="0/1",
        )
        try:
            load_transform(settings, wf.transformation)(event)
        except Exception as exc:  # a transformation may raise anything; that is the finding
            failures[wf.name] = f"{type(exc).__name__}: {exc}"
    return failures
