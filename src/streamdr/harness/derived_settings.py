"""Derived settings files: the lab's settings plus a source, a config repo, a registry.

Drills and the demo run their own pipeline next to whatever is deployed; they write the settings
their child processes (``streamdr cdc run``, ``streamdr run``) use, derived from the caller's.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from streamdr.settings.model import Settings

HEADER = "# Written by streamdr for a drill or the demo; derived from {source}.\n"


def derive(settings: Settings, **updates: Any) -> Settings:
    """Return ``settings`` with top-level fields replaced (validated again)."""
    doc = settings.model_dump(mode="json", exclude_none=True)
    doc.update({k: _plain(v) for k, v in updates.items()})
    derived = Settings.model_validate(doc)
    derived._source = settings.source
    return derived


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def write_settings(settings: Settings, path: Path) -> Path:
    """Write ``settings`` as YAML to ``path`` (atomically) and return the path."""
    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    buf.write(HEADER.format(source=settings.source or "defaults"))
    yaml.dump(settings.model_dump(mode="json", exclude_none=True), buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(buf.getvalue())
    tmp.replace(path)
    return path
