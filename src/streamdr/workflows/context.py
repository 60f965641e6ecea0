"""What config commands work with: settings, the metadata DB, the repository, the registry check."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from streamdr.artifacts.errors import ArtifactError
from streamdr.artifacts.registry import verify_stored
from streamdr.artifacts.service import open_registry, trusted_keys
from streamdr.errors import InputError
from streamdr.settings.model import ConfigRepoSettings, Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.documents import is_workflow_path
from streamdr.workflows.repo import WORKFLOWS_DIR, ConfigRepo
from streamdr.workflows.validation import ArtifactCheck, SourceFile, TreeValidation, validate_files

ACTOR_ENV = "STREAMDR_ACTOR"


def default_actor() -> str:
    """Return who is acting: ``$STREAMDR_ACTOR`` or ``user@host``."""
    return os.environ.get(ACTOR_ENV) or f"{getpass.getuser()}@{socket.gethostname()}"


def repo_settings(settings: Settings) -> ConfigRepoSettings:
    """Return the ``config_repo`` section; raises InputError when it is missing."""
    if settings.config_repo is None:
        raise InputError(
            "no config repository configured (no `config_repo:` section in streamdr.yaml)",
            hint="Add config_repo: {path: <git repository>, branch: main}; see "
            "docs/configuration.md.",
        )
    return settings.config_repo


def open_repo(settings: Settings, *, require: bool = True) -> ConfigRepo:
    """Return the config repository of the settings (checked to exist when ``require``)."""
    cfg = repo_settings(settings)
    path = Path(cfg.path).expanduser()
    repo = ConfigRepo(path if path.is_absolute() else settings.base_dir() / path, cfg.branch)
    if require:
        repo.require()
    return repo


def registry_check(settings: Settings) -> ArtifactCheck:
    """Return a check that an artifact exists in the registry and verifies."""
    registry = open_registry(settings)
    trusted = trusted_keys(settings)

    def check(name: str, version: str) -> str | None:
        try:
            verify_stored(registry.read(name, version), trusted)
        except ArtifactError as exc:
            return exc.message
        return None

    return check


@dataclass
class ConfigContext:
    """Settings, metadata DB, repository and artifact check used by deploy/rollback/recover."""

    settings: Settings
    store: MetadataStore
    repo: ConfigRepo
    check_artifact: ArtifactCheck | None

    @classmethod
    def open(cls, settings: Settings, store: MetadataStore) -> ConfigContext:
        """Return the context for ``settings`` (the registry check needs ``artifacts``)."""
        return cls(settings, store, open_repo(settings), registry_check(settings))

    def workflow_files(self, commit: str) -> dict[str, bytes]:
        """Return ``{path: bytes}`` of the workflow files in ``commit``."""
        files = self.repo.read_files(commit, WORKFLOWS_DIR)
        return {p: b for p, b in files.items() if is_workflow_path(p)}

    def validate(self, files: dict[str, bytes], label: str) -> TreeValidation:
        """Return the validation of a tree's workflow files, shown as ``label:path``."""
        return validate_files(
            (SourceFile(f"{label}:{p}", p, b) for p, b in sorted(files.items())),
            sources=set(self.settings.sources),
            check_artifact=self.check_artifact,
        )
