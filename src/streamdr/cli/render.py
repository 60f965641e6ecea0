"""Output helpers shared by CLI modules: JSON on stdout, human output through rich."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

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


def one_line(text: str) -> str:
    """Return ``text`` with line breaks and other control characters shown as spaces.

    Messages quote values from files and Kafka; a newline in one must not forge a second
    ``Error:``/``Hint:`` line.
    """
    return "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def print_error(exc: StreamdrError) -> None:
    """Print ``Error: …`` and ``Hint: …`` on stderr (one line each).

    The message and hint are printed literally: brackets in a path or topic are not markup.
    """
    err.print(f"[bold red]Error:[/] {escape(one_line(exc.message))}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"[yellow]Hint:[/] {escape(one_line(exc.hint))}", markup=True, highlight=False)


def print_warning(message: str) -> None:
    """Print one ``Warning: …`` line on stderr (the message literally, not as markup)."""
    err.print(f"[yellow]Warning:[/] {escape(one_line(message))}", markup=True, highlight=False)


def literal(value: object) -> str:
    """Return ``value`` as text safe to embed in rich markup (brackets are escaped)."""
    return escape(str(value))


def status_mark(ok: bool) -> str:
    """Return a coloured PASS/FAIL label."""
    return "[green]PASS[/]" if ok else "[red]FAIL[/]"
