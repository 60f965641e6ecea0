"""What the CDC reader needs of a source database, and building one from settings."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from streamdr.errors import InputError
from streamdr.pipeline.events import SourceTransaction
from streamdr.settings.model import Settings, SourceSettings


class SourceUnavailable(Exception):
    """The source database cannot be reached or refused a read (retried with backoff)."""


class ChangeSource(Protocol):
    """A database whose committed changes can be read after a position and then forgotten."""

    kind: str
    waits_for_changes: bool  # True: ``pending`` itself waits a moment for new changes

    def open(self) -> list[str]:
        """Connect, make sure capture is set up, and return the captured ``schema.table`` names.

        Raises SourceUnavailable when the database cannot be reached, StateError when capture
        cannot resume safely (e.g. the slot vanished after a checkpoint was written).
        """

    def pending(self, after: int, limit: int) -> list[SourceTransaction]:
        """Return committed transactions ending after ``after`` (whole ones, about ``limit``
        changes). Raises SourceUnavailable."""

    def peek(self, after: int, limit: int) -> list[SourceTransaction]:
        """Return what is pending without consuming it (for `cdc status`; the source may
        refuse while a reader holds it). Raises SourceUnavailable."""

    def acknowledge(self, upto: int) -> None:
        """Let the source forget everything up to ``upto`` (it is in Kafka).

        Raises SourceUnavailable."""

    def resume_from(self, checkpoint: int | None) -> str | None:
        """Align the source with the Kafka checkpoint at start-up (never moves backwards).

        Returns a warning when the source already forgot changes after the checkpoint."""

    def format_position(self, position: int) -> str:
        """Return a position as the source writes it (e.g. ``0/16B3748``)."""

    def close(self) -> None:
        """Disconnect."""


def get_source_settings(settings: Settings, name: str) -> SourceSettings:
    """Return the named source; raises InputError listing the known ones."""
    if name not in settings.sources:
        known = ", ".join(settings.sources) or "none"
        raise InputError(
            f"unknown source {name!r}",
            hint=f"Sources in streamdr.yaml: {known}. Add one under `sources:` (docs/pipeline.md).",
        )
    return settings.sources[name]


def open_source(name: str, source: SourceSettings, base_dir: Path | None = None) -> ChangeSource:
    """Return the ChangeSource for a configured source (no connection is made yet)."""
    if source.kind == "postgres":
        from streamdr.pipeline.cdc.postgres import PostgresSource

        return PostgresSource(name, source)
    from streamdr.pipeline.cdc.sqlite import SqliteSource

    path = Path(source.path or "")
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return SqliteSource(name, path, list(source.tables))
