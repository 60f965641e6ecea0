"""`streamdr check`: Appendix A's Kafka items and cluster health, live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from streamdr.cli.options import Json
from streamdr.cli.render import literal, out, print_json, status_mark
from streamdr.cli.state import state

if TYPE_CHECKING:
    from streamdr.checks.site import CheckResult


def check(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option(help="Check one site (default: every site).")] = None,
    skip: Annotated[list[str] | None, typer.Option(help="Skip an item id (repeatable).")] = None,
    json_out: Json = False,
) -> None:
    """Evaluate the DR checklist; exit 0 all pass, 1 any fail, 3 a site unreachable."""
    # Imported here: the checks pull in every capability (Kafka admin, sqlalchemy, httpx, …),
    # which `streamdr check --help` does not need.
    from streamdr.checks.service import run_checks

    st = state(ctx)
    results, code = run_checks(st.settings(), st.store(), site=site, skip=set(skip or []))
    if json_out:
        print_json(
            {"passed": code == 0, "exit_code": code, "items": [r.as_dict() for r in results]}
        )
    else:
        table = Table("site", "item", "status", "offenders / detail")
        for r in results:
            mark = status_mark(r.status == "pass")
            table.add_row(literal(r.site), literal(r.id), mark, literal(_describe(r)))
        out.print(table)
        failed = sum(r.status != "pass" for r in results)
        out.print(f"Checklist: {len(results) - failed} pass, {failed} fail")
    raise typer.Exit(code)


def _describe(result: CheckResult) -> str:
    """Return offenders (at most five) and the detail, for the human table."""
    shown = ", ".join(result.offenders[:5])
    if len(result.offenders) > 5:
        shown += f" (+{len(result.offenders) - 5} more)"
    return "; ".join(part for part in (shown, result.detail) if part)
