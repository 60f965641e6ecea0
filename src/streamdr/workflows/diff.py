"""Pure differences between two sets of workflow files (deployed vs HEAD, before vs after)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Change(StrEnum):
    """How a file differs."""

    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


@dataclass(frozen=True)
class FileChange:
    """One file that differs between ``old`` and ``new``."""

    path: str
    change: Change

    def as_dict(self) -> dict[str, str]:
        """Return the change as a JSON-ready mapping."""
        return {"path": self.path, "change": str(self.change)}


def _text(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def diff_files(old: Mapping[str, str | bytes], new: Mapping[str, str | bytes]) -> list[FileChange]:
    """Return the files added, removed or modified from ``old`` to ``new``, sorted by path."""
    changes = [FileChange(p, Change.ADDED) for p in new.keys() - old.keys()]
    changes += [FileChange(p, Change.REMOVED) for p in old.keys() - new.keys()]
    changes += [
        FileChange(p, Change.MODIFIED)
        for p in old.keys() & new.keys()
        if _text(old[p]) != _text(new[p])
    ]
    return sorted(changes, key=lambda c: c.path)
