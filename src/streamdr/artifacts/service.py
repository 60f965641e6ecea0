"""Wiring artifacts to the settings: which stores, which keys, and ``name@version`` parsing."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streamdr.artifacts.registry import Registry
from streamdr.artifacts.signing import TrustedKeys, load_private_key, load_trusted_keys
from streamdr.errors import InputError
from streamdr.objectstore.store import open_store
from streamdr.settings.model import ArtifactSettings, Settings
from streamdr.workflows.model import NAME, SEMVER


def artifact_settings(settings: Settings) -> ArtifactSettings:
    """Return the ``artifacts`` section; raises InputError when it is missing."""
    if settings.artifacts is None:
        raise InputError(
            "no artifact registry configured (no `artifacts:` section in streamdr.yaml)",
            hint="Add artifacts: {registry_store: <store name>, trusted_keys: [<key.pub>]}; "
            "see docs/configuration.md.",
        )
    return settings.artifacts


def _path(settings: Settings, raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else settings.base_dir() / path


def open_registry(settings: Settings) -> Registry:
    """Return the registry named by ``artifacts.registry_store``."""
    return Registry(open_store(settings, artifact_settings(settings).registry_store))


def open_archive(settings: Settings) -> Registry | None:
    """Return the archive named by ``artifacts.archive_store``, or None when unset."""
    name = artifact_settings(settings).archive_store
    return Registry(open_store(settings, name)) if name else None


def trusted_keys(settings: Settings) -> TrustedKeys:
    """Return ``{key id: public key}`` of ``artifacts.trusted_keys``."""
    cfg = artifact_settings(settings)
    return load_trusted_keys(_path(settings, p) for p in cfg.trusted_keys)


def signing_key(settings: Settings, explicit: Path | None = None) -> Ed25519PrivateKey:
    """Return the private key to sign with: ``explicit`` or ``artifacts.signing_key``.

    Raises InputError when neither is given or the key cannot be read.
    """
    cfg = artifact_settings(settings)
    if explicit is None and cfg.signing_key is None:
        raise InputError(
            "no signing key: pass --key or set artifacts.signing_key",
            hint="Create one with `streamdr keys generate --out keys/release`.",
        )
    path = explicit if explicit is not None else _path(settings, cfg.signing_key or "")
    password = None
    if cfg.signing_key_password_env:
        value = os.environ.get(cfg.signing_key_password_env)
        if value is None:
            raise InputError(
                f"environment variable {cfg.signing_key_password_env} (signing key password) "
                "is not set",
                hint=f"Export {cfg.signing_key_password_env}.",
            )
        password = value.encode()
    return load_private_key(path, password)


def parse_ref(text: str) -> tuple[str, str]:
    """Return ``(name, version)`` from ``name@version``; raises InputError otherwise."""
    name, sep, version = text.partition("@")
    if not sep or not NAME.match(name) or not SEMVER.match(version):
        raise InputError(
            f"{text!r} is not NAME@VERSION",
            hint="For example enrich-orders@1.2.0 (lower-case name, exact semantic version).",
        )
    return name, version
