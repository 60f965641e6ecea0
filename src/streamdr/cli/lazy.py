"""A click group that imports a sub-command's module only when that sub-command is used.

Every command module pulls in its own stack (fastapi for the endpoint, pyarrow for backups,
sqlalchemy for the artifact registry); importing them all made every ``streamdr`` call, and
every worker and CDC child process, pay ~2.5 s before doing anything. The root group therefore
knows its commands from a static table of :class:`LazyEntry` (name, panel, one-line summary,
``module:attribute``) and loads an entry on first lookup. ``streamdr --help`` renders the panels
from the table alone; ``tests/unit/test_cli_lazy.py`` checks the table against the real commands.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command, get_group

Command = Any  # a click command of typer's vendored click (typer._click.Command)


@dataclass(frozen=True)
class LazyEntry:
    """One sub-command of the root group, known without importing its module.

    ``target`` is ``"module:attribute"``: a typer app (a group), a function returning a typer
    app (a group composed of several modules), or a command function.
    """

    name: str
    panel: str
    summary: str
    target: str
    group: bool = True

    def load(self) -> Command:
        """Import the target and return its click command, named and placed in its panel."""
        module, _, attr = self.target.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        if self.group:
            sub = obj if isinstance(obj, typer.Typer) else obj()
            cmd: Command = get_group(sub)
        else:
            single = typer.Typer(add_completion=False)
            single.command(self.name)(obj)
            cmd = get_command(single)
        cmd.name = self.name
        cmd.rich_help_panel = self.panel
        return cmd

    def stub(self) -> Command:
        """Return a placeholder command carrying only the name, panel and summary (for help)."""
        return TyperCommand(self.name, help=self.summary, rich_help_panel=self.panel)


class LazyCommands(MutableMapping[str, Command]):
    """The root group's ``commands``: table entries, each imported on first access."""

    def __init__(self, entries: tuple[LazyEntry, ...], loaded: Mapping[str, Command]) -> None:
        self._entries = {e.name: e for e in entries}
        self._loaded: dict[str, Command] = dict(loaded)

    def is_loaded(self, name: str) -> bool:
        """Return True when ``name`` is a real command already (not only a table entry)."""
        return name in self._loaded

    def entry(self, name: str) -> LazyEntry | None:
        """Return the table entry of ``name``, None when it has none."""
        return self._entries.get(name)

    def __getitem__(self, name: str) -> Command:
        if name not in self._loaded:
            entry = self._entries[name]  # KeyError for an unknown command, as a dict would
            self._loaded[name] = entry.load()
        return self._loaded[name]

    def __setitem__(self, name: str, cmd: Command) -> None:
        self._loaded[name] = cmd

    def __delitem__(self, name: str) -> None:
        self._entries.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._entries
        yield from (n for n in self._loaded if n not in self._entries)

    def __len__(self) -> int:
        return len(set(self._entries) | set(self._loaded))


class LazyGroup(TyperGroup):
    """A typer group whose sub-commands come from :attr:`entries`, imported on demand.

    Subclasses set ``entries``; typer builds the group with ``typer.Typer(cls=Subclass)``.
    """

    entries: tuple[LazyEntry, ...] = ()

    def __init__(self, *, commands: Any = None, **attrs: Any) -> None:
        super().__init__(commands=commands, **attrs)
        self.commands = LazyCommands(self.entries, self.commands)
        self._summaries_only = False

    def list_commands(self, ctx: Any) -> list[str]:
        """Return the command names in table order (the order of the help panels)."""
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Command | None:
        """Return the command ``cmd_name`` (a placeholder while rendering this group's help)."""
        commands = self.commands
        if self._summaries_only and isinstance(commands, LazyCommands):
            entry = commands.entry(cmd_name)
            if entry is not None and not commands.is_loaded(cmd_name):
                return entry.stub()
        return commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Render help from the table's summaries, so ``--help`` imports no command module."""
        self._summaries_only = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._summaries_only = False
