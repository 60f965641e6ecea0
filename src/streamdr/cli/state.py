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
            from streamdr.settings import load_settings

            self._settings = load_settings(self.config)
        return self._settings

    def store(self) -> MetadataStore:
        """Return the metadata DB named in the settings."""
        from streamdr.store.db import MetadataStore

        return MetadataStore.from_settings(self.settings())


def state(ctx: typer.Context) -> CliState:
    """Return the CliState of this invocation."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj
