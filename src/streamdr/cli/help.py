"""How `streamdr --help` reads: the command panels, and flags shown without a value type."""

from __future__ import annotations

import typer
from typer.core import TyperOption

INCIDENT = "Incident response"
DATA = "Data: backups, restores, offsets, dead letters"
CONFIG = "Configuration and deployments"
RUNTIME = "Runtime: processes that run the pipeline"
LAB = "Lab and testing"

_typed = TyperOption.display_type_rich


def _flag_type(self: TyperOption, ctx: typer.Context) -> str | None:
    """Return no type for a flag (it takes no value), else typer's own ``<type>``."""
    return None if self.is_flag else _typed(self, ctx)


def hide_flag_types() -> None:
    """Stop typer from printing ``<bool>`` next to flags, which take no value.

    Typer 0.29 labels every option with its annotation's type, so ``--execute <bool>`` reads as
    if it wanted ``--execute true``; on-call engineers copy that. Patched here, once.
    """
    TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]
