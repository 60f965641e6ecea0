"""Finding and loading ``streamdr.yaml`` with errors that name file:line."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from streamdr.errors import InputError
from streamdr.settings.limits import is_loopback
from streamdr.settings.model import Settings
from streamdr.yamldoc import DocumentError, field_errors, parse_yaml, read_yaml_text, to_plain

log = logging.getLogger(__name__)

CONFIG_ENV = "STREAMDR_CONFIG"
LAB_DIR_ENV = "STREAMDR_LAB_DIR"
SETTINGS_FILE = "streamdr.yaml"


def default_lab_dir() -> Path:
    """Return the lab directory: ``$STREAMDR_LAB_DIR`` or ``./.streamdr/lab``."""
    return Path(os.environ.get(LAB_DIR_ENV) or Path.cwd() / ".streamdr" / "lab").resolve()


def find_settings_path(explicit: Path | None = None) -> Path:
    """Return the settings file to use.

    Order: ``explicit`` (``--config``), ``$STREAMDR_CONFIG``, ``./streamdr.yaml``, the lab's file.
    Raises InputError when an explicit file is missing or nothing is found.
    """
    chosen = explicit or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if chosen is not None:
        if not chosen.is_file():
            what = "is not a regular file" if chosen.exists() else "does not exist"
            raise InputError(
                f"settings file {chosen} {what}",
                hint="Pass an existing file with --config or fix STREAMDR_CONFIG.",
            )
        return chosen
    for candidate in (Path.cwd() / SETTINGS_FILE, default_lab_dir() / SETTINGS_FILE):
        if candidate.is_file():
            return candidate
    raise InputError(
        "no streamdr.yaml found (no --config, no STREAMDR_CONFIG, none in this directory, no lab)",
        hint="Run `streamdr lab up` for the local lab, or pass --config PATH.",
    )


def parse_settings(text: str, source: str) -> Settings:
    """Return Settings parsed from YAML ``text``.

    Raises DocumentError listing every problem with ``source:line:column``.
    """
    doc = parse_yaml(text, source)
    if not isinstance(doc, dict):
        raise InputError(
            f"{source}:1:1: expected a mapping with a 'sites' key",
            hint="See docs/settings.md for the format.",
        )
    try:
        return Settings.model_validate(to_plain(doc))
    except ValidationError as exc:
        raise DocumentError(
            field_errors(exc, doc, source), hint="See docs/settings.md for every field."
        ) from exc


def load_settings(explicit: Path | None = None) -> Settings:
    """Return the settings found by :func:`find_settings_path`; raises InputError."""
    path = find_settings_path(explicit)
    settings = parse_settings(read_yaml_text(path), str(path))
    settings._source = path.resolve()
    for warning in plaintext_warnings(settings):
        log.warning("%s", warning)
    return settings


def plaintext_warnings(settings: Settings) -> list[str]:
    """Return one warning per S3 store reached over plain http:// on a non-loopback host."""
    warnings = []
    for name, store in settings.stores.items():
        endpoint = store.endpoint_override or ""
        if store.scheme != "s3" or not endpoint.startswith("http://"):
            continue
        host = urlsplit(endpoint).hostname or ""
        if not is_loopback(host):
            warnings.append(
                f"store {name!r} sends credentials and data over plain http:// to {host}; "
                "use https:// unless the network is private"
            )
    return warnings
