"""`streamdr offsets translate`: a group's positions translated between sites, with sources.

The coordinator attaches :func:`translate` to the shared ``offsets`` typer app
(``offsets_app.command("translate")(translate)``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.options import Json
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError
from streamdr.replication.failover.active_site import PLATFORM_SCOPE, active_site
from streamdr.replication.mm2.group_positions import translate_group
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.service import deployed_sets
from streamdr.replication.topology import topology_for


def translate(
    ctx: typer.Context,
    group: Annotated[str, typer.Option("--group", help="Consumer group to translate.")],
    from_site: Annotated[
        str | None, typer.Option("--from", help="Site the group consumed on (default: active).")
    ] = None,
    to_site: Annotated[
        str | None, typer.Option("--to", help="Site to translate to (default: the other site).")
    ] = None,
    method: Annotated[
        str,
        typer.Option(help="auto (offset syncs if --from answers), checkpoints or offset-syncs."),
    ] = "auto",
    json_out: Json = False,
) -> None:
    """Print a group's translated positions and where each came from (MM2's own records)."""
    if method not in ("auto", "checkpoints", "offset-syncs"):
        raise InputError(f"--method {method!r} is unknown", hint="auto, checkpoints, offset-syncs")
    st = state(ctx)
    settings, store = st.settings(), st.store()
    source = from_site or active_site(store, settings, PLATFORM_SCOPE)
    others = [s for s in settings.sites if s != source]
    target = to_site or (others[0] if len(others) == 1 else None)
    if target is None:
        raise InputError("--to is required with more than two sites", hint=f"Sites: {others}.")
    topology = Mm2Runner(settings).topology() or topology_for(
        settings, deployed_sets(settings, store), source
    )
    result = translate_group(settings, topology, group, source, target, method)  # type: ignore[arg-type]
    if json_out:
        print_json(result.as_dict())
    else:
        out.print(literal(f"Group {group}: {source} → {target} by {result.method}"))
        table = Table(
            literal("topic on " + target), "part", "offset", "from", "source offset", "method"
        )
        for t in result.translations:
            cells = (t.topic, t.partition, t.offset, t.source_topic, t.source_offset, t.method)
            table.add_row(*(literal(c) for c in cells))
        out.print(table)
        for src in result.sources:
            out.print(f"  source: {literal(src)}")
    raise typer.Exit(0 if result.translations and not result.untranslated else 1)
