"""`streamdr check`: Appendix A's Kafka items and cluster health, live."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.render import out, print_json, status_mark
from streamdr.cli.state import state
from streamdr.policy.service import run_checks


def check(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option(help="Check one site (default: every site).")] = None,
    skip: Annotated[list[str] | None, typer.Option(help="Skip an item id (repeatable).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Evaluate the DR checklist; exit 0 all pass, 1 any fail, 3 a site unreachable."""
    st = state(ctx)
    results, code = run_checks(st.settings(), st.store(), site=site, skip=set(skip or []))
    if json_out:
        print_json(
            {"passed": code == 0, "exit_code": code, "items": [r.as_dict() for r in results]}
        )
    else:
        table = Table("site", "item", "status", "offenders / detail")
        for r in results:
            shown = ", ".join(r.offenders[:5]) + (
                f" (+{len(r.offenders) - 5})" if len(r.offenders) > 5 else ""
            )
            table.add_row(r.site, r.id, status_mark(r.status == "pass"), shown or r.detail)
        out.print(table)
        failed = sum(r.status != "pass" for r in results)
        out.print(f"Checklist: {len(results) - failed} pass, {failed} fail")
    raise typer.Exit(code)
