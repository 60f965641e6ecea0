"""Options and parsers every CLI module shares, so a flag reads and behaves the same everywhere.

The confirmation convention of destructive commands (those that delete, overwrite, move offsets
or traffic, or re-send): without ``--execute`` they print their plan, end with :data:`PLAN_ONLY`
and exit 0. ``--dry-run`` asks for the plan explicitly (with ``--execute`` it is an input
error); ``--yes``/``-y`` is a hidden, deprecated alias of ``--execute`` so old scripts still act.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from streamdr.cli.render import err, out, print_json, print_warning
from streamdr.clock import parse_time
from streamdr.errors import InputError

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Execute = Annotated[
    bool, typer.Option("--execute", help="Act on the plan (default: print the plan only).")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan only (the default).")]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", hidden=True, help="Deprecated: the same as --execute.")
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Settings file (default: $STREAMDR_CONFIG, ./streamdr.yaml, then the lab's).",
    ),
]
Site = Annotated[str | None, typer.Option("--site", help="Site (default: the active site).")]
Prefix = Annotated[
    str | None, typer.Option("--prefix", help="Backup key prefix (default kafka/SITE).")
]
Target = Annotated[
    str | None, typer.Option("--target", help="Object store of the backup (default: local).")
]
By = Annotated[
    str | None, typer.Option("--by", help="Who acts (default $STREAMDR_ACTOR or user@host).")
]

PLAN_ONLY = "Plan only: nothing was changed. Run again with --execute to apply."


def wants_execute(execute: bool, dry_run: bool, yes: bool = False) -> bool:
    """Return True when a destructive command should act (``--execute`` or the old ``--yes``).

    Raises InputError when acting and ``--dry-run`` are both asked for.
    """
    if yes:
        print_warning("--yes is deprecated and will be removed: use --execute")
    act = execute or yes
    if act and dry_run:
        raise InputError(
            "--execute and --dry-run exclude each other",
            hint="Keep one: without --execute only the plan is printed.",
        )
    return act


def print_plan_only(json_out: bool = False) -> None:
    """Print the closing line of a plan-only run (on stderr under --json: stdout is the JSON)."""
    (err if json_out else out).print(PLAN_ONLY, markup=False, highlight=False)


def finish_plan(json_out: bool, doc: object | None = None) -> None:
    """End a plan-only run: ``doc`` as the JSON document under --json, then the closing line."""
    if json_out and doc is not None:
        print_json(doc)
    print_plan_only(json_out)


def optional_time(text: str | None, option: str) -> datetime | None:
    """Return ``text`` as an aware UTC time, None for None; raises InputError naming ``option``."""
    return None if text is None else parse_time(text, option)


def comma_list(values: list[str] | None) -> list[str]:
    """Return the non-empty items of repeatable, comma-separated option values, in order."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
