"""Output helpers shared by CLI modules: JSON on stdout, human output through rich."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console

from streamdr.errors import StreamdrError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def print_json(doc: Any) -> None:
    """Print ``doc`` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def print_error(exc: StreamdrError) -> None:
    """Print ``Error: …`` and ``Hint: …`` on stderr (one line each)."""
    err.print(f"[bold red]Error:[/] {exc.message}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"[yellow]Hint:[/] {exc.hint}", markup=True, highlight=False)


def status_mark(ok: bool) -> str:
    """Return a coloured PASS/FAIL label."""
    return "[green]PASS[/]" if ok else "[red]FAIL[/]"
