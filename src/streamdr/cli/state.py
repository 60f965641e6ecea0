"""Per-invocation CLI state: global options and lazily loaded settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # imported when first used: every `streamdr` call would pay for them
    from streamdr.settings import Settings
    from streamdr.store.db import MetadataStore


@dataclass
class CliState:
    """Global options, with settings and the metadata DB loaded only when a command needs them."""

    config: Path | None = None
    verbose: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """Return the settings (``--config``, ``STREAMDR_CONFIG``, ./streamdr.yaml, the lab's)."""
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def store(self) -> MetadataStore:
        """Return the metadata DB named in the settings."""
        from streamdr.store.db import MetadataStore

        return MetadataStore.from_settings(self.settings())


def load_settings(explicit: Path | None = None) -> Settings:
    """Return the settings of :func:`streamdr.settings.load_settings`; raises InputError.

    Imported on first use (pydantic and the settings model are not needed by ``--help``).
    """
    from streamdr.settings import load_settings as load

    return load(explicit)


def state(ctx: typer.Context) -> CliState:
    """Return the CliState of this invocation."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj
