"""`streamdr cost`: what each DR option costs, per workflow, over years; and capacity sizing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from streamdr.cli.options import Json
from streamdr.cli.render import literal, out, print_json, print_warning
from streamdr.cli.state import CliState, state
from streamdr.cost import deployed
from streamdr.cost.capacity import Sizing, size_backup_workers, size_dr_cluster, size_mirrormaker
from streamdr.cost.measurements import DEFAULT_RESULTS_DIR, read_measurements
from streamdr.cost.model import (
    OptionCost,
    appendix_comparison,
    optimisations,
    option_cost,
)
from streamdr.cost.options import Option, Scenario, TierMix, parse_option
from streamdr.cost.prices import PriceBook, load_prices
from streamdr.errors import InputError

HEADROOM = 0.3
CHART_WIDTH = 50


def parse_tier_mix(text: str) -> TierMix:
    """Return the TierMix in ``critical=10,standard=60,non-critical=30`` (percent)."""
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            shares[name.strip()] = float(value) / 100
        except ValueError as exc:
            raise InputError(
                f"bad tier mix entry {part!r}", hint="Use critical=10,standard=60,non-critical=30."
            ) from exc
    if set(shares) != {"critical", "standard", "non-critical"}:
        raise InputError(
            f"tier mix {text!r} must name critical, standard and non-critical once each",
            hint="Use critical=10,standard=60,non-critical=30.",
        )
    return TierMix(shares["critical"], shares["standard"], shares["non-critical"])


def cost(
    ctx: typer.Context,
    option: Annotated[str, typer.Option(help="Strategy option 1, 2, 3, 4 or all.")] = "all",
    workflows: Annotated[int, typer.Option(help="Workflows on the platform.")] = 100,
    years: Annotated[int, typer.Option(min=1, max=10, help="Years of cumulative cost.")] = 3,
    prices: Annotated[
        Path | None, typer.Option(help="Prices file (default: the packaged aws-us-2025).")
    ] = None,
    tier_mix: Annotated[
        str, typer.Option(help="Percent of workflows per tier (Option 4 and --from-deployed).")
    ] = "critical=10,standard=60,non-critical=30",
    reserved: Annotated[
        bool, typer.Option(help="Price primary brokers as Reserved Instances.")
    ] = False,
    peak_rate: Annotated[
        float, typer.Option(min=1, help="Peak records/s to size MirrorMaker and the DR cluster.")
    ] = 10_000,
    record_bytes: Annotated[int, typer.Option(min=1, help="Average record size.")] = 500,
    results: Annotated[
        Path, typer.Option(help="Benchmark results directory (bench/results).")
    ] = DEFAULT_RESULTS_DIR,
    from_deployed: Annotated[
        bool, typer.Option(help="Estimate the deployed platform's cost (Kafka, DB, backups).")
    ] = False,
    sample_seconds: Annotated[
        float, typer.Option(min=1, max=600, help="Byte-rate sample window (--from-deployed).")
    ] = 10.0,
    json_out: Json = False,
) -> None:
    """Model the cost of the strategy's options (Appendix C) and size capacity from benchmarks."""
    book = load_prices(prices)
    chosen = parse_option(option)
    mix = parse_tier_mix(tier_mix)
    if from_deployed:
        _deployed(state(ctx), book, sample_seconds, json_out)
        return
    scenario = Scenario(workflows=workflows, reserved=reserved, tier_mix=mix)
    costs = [option_cost(o, scenario, book) for o in chosen]
    sizing = _sizing(scenario, mix, peak_rate, record_bytes, results)
    if json_out:
        print_json(_document(scenario, book, costs, sizing, years))
        return
    _render(scenario, book, costs, sizing, years)


def _sizing(
    s: Scenario, mix: TierMix, peak: float, record_bytes: int, results: Path
) -> list[Sizing]:
    m = read_measurements(results)
    for problem in m.problems:
        print_warning(f"skipped benchmark record: {problem}")
    replicated = mix.critical + mix.standard
    daily = s.transfer_gb_month * s.scale * 1e9 / 30
    return [
        *size_mirrormaker(peak, m, HEADROOM),
        *size_dr_cluster(s.primary(), peak * record_bytes * replicated, m, HEADROOM),
        *size_backup_workers(daily, 4.0, m, HEADROOM),
    ]


def _document(
    s: Scenario, book: PriceBook, costs: list[OptionCost], sizing: list[Sizing], years: int
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "prices": book.describe(),
        "workflows": s.workflows,
        "years": years,
        "tier_mix": s.tier_mix.as_dict(),
        "reserved": s.reserved,
        "options": [c.as_dict(years) for c in costs],
        "capacity": [z.as_dict() for z in sizing],
    }
    if _is_appendix_c(s, costs):
        doc["appendix_c"] = appendix_comparison(_option2(costs))
        doc["optimisations"] = [o.as_dict() for o in optimisations(s, book)]
    return doc


def _option2(costs: list[OptionCost]) -> OptionCost:
    return next(c for c in costs if c.option is Option.ACTIVE_PASSIVE)


def _is_appendix_c(s: Scenario, costs: list[OptionCost]) -> bool:
    """Return True when Option 2 is shown under Appendix C's own assumptions."""
    return s.scale == 1 and not s.reserved and any(c.option is Option.ACTIVE_PASSIVE for c in costs)


def _render(
    s: Scenario, book: PriceBook, costs: list[OptionCost], sizing: list[Sizing], years: int
) -> None:
    out.print(f"Prices: {literal(book.name)} ({literal(book.describe()['source'])})")
    for c in costs:
        _render_bill(c)
    if _is_appendix_c(s, costs):
        _render_appendix(s, book, _option2(costs))
    _render_comparison(costs, years)
    _render_chart(costs, years)
    _render_sizing(sizing)


def _render_bill(c: OptionCost) -> None:
    table = Table(
        "component",
        "quantity",
        "unit cost",
        "monthly",
        title=f"Option {c.option:d}: {c.option.title}",
    )
    for line in c.lines:
        qty = f"{line.component.quantity:,.6g} x {line.component.item}"
        reserved = " (reserved)" if line.component.reserved else ""
        unit = f"${line.unit_price:,.4g}/{line.unit}{reserved}"
        table.add_row(line.component.label, literal(qty), literal(unit), f"${line.monthly:,.2f}")
    table.add_row("Total", "", "", f"${c.monthly:,.2f}")
    out.print(table)


def _render_appendix(s: Scenario, book: PriceBook, c: OptionCost) -> None:
    table = Table(
        "row",
        "appendix C",
        "model",
        "difference",
        "why",
        title="Option 2 against Appendix C, line by line",
    )
    for row in appendix_comparison(c):
        table.add_row(
            row["row"],
            f"${row['appendix']:,.2f}",
            f"${row['model']:,.2f}",
            f"{row['difference']:+,.2f}",
            literal(row["note"]),
        )
    out.print(table)
    saves = Table(
        "optimisation",
        "appendix claims",
        "model: $/month",
        "how",
        title="Appendix C's cost optimisations, quantified",
    )
    for o in optimisations(s, book):
        saves.add_row(o.name, o.appendix_claim, f"${o.monthly_saving:,.2f}", literal(o.detail))
    out.print(saves)


def _render_comparison(costs: list[OptionCost], years: int) -> None:
    table = Table(
        "option",
        "monthly",
        "annual",
        "per workflow / month",
        f"{years}-year total",
        title=f"Comparison ({costs[0].workflows} workflows)",
    )
    for c in costs:
        table.add_row(
            f"{c.option:d} {c.option.title}",
            f"${c.monthly:,.0f}",
            f"${c.annual:,.0f}",
            f"${c.monthly / c.workflows:,.2f}",
            f"${c.annual * years:,.0f}",
        )
    out.print(table)


def _render_chart(costs: list[OptionCost], years: int) -> None:
    top = max(c.annual * years for c in costs) or 1.0
    out.print(f"Cumulative cost, end of each year (full bar = ${top:,.0f})")
    for year in range(1, years + 1):
        for c in costs:
            total = c.annual * year
            bar = "█" * max(1, round(CHART_WIDTH * total / top))
            out.print(f"  year {year}  option {c.option:d}  {bar} ${total:,.0f}")


def _render_sizing(sizing: list[Sizing]) -> None:
    table = Table("capacity", "needed", "how", "measurement", title="Capacity from measurements")
    for z in sizing:
        needed = "no measurement" if z.needed is None else str(z.needed)
        cited = "; ".join(m.cite() for m in z.used) or "-"
        table.add_row(z.what, needed, literal(z.reasoning), literal(cited))
    out.print(table)


def _deployed(st: CliState, book: PriceBook, seconds: float, json_out: bool) -> None:
    """Measure the deployed platform and print its monthly DR bill per tier and per workflow."""
    settings = st.settings()
    workflows = deployed.read_workflows(settings, st.store())
    brokers = deployed.broker_counts(settings)  # UnreachableError (exit 3) for a silent site
    name, site = settings.site()
    topics = sorted({t for w in workflows for t in w.topics})
    platform = deployed.Platform(
        workflows=tuple(workflows),
        volumes=deployed.sample_volumes(deployed.KafkaAdmin(name, site), topics, seconds),
        backup_bytes=deployed.backup_bytes(settings),
        brokers=brokers,
        primary_site=name,
        broker_instance=Scenario().broker_instance,
    )
    bill = deployed.attribute(platform, book)
    if json_out:
        print_json(
            {"prices": book.describe(), "sample_seconds": seconds, "brokers": brokers, **bill}
        )
        return
    if not workflows:
        print_warning("nothing is deployed: every broker is unattributed")
    table = Table(
        "workflow",
        "tier",
        "bytes/s",
        "primary",
        "DR",
        "transfer",
        "backup",
        "total",
        title=f"Deployed DR cost per month (brokers: {brokers})",
    )
    for r in bill["workflows"]:
        table.add_row(
            literal(r["workflow"]),
            r["tier"],
            f"{r['bytes_per_s']:,.0f}",
            *(
                f"${r[k]:,.2f}"
                for k in ("primary_cluster", "dr_cluster", "transfer", "backup", "total")
            ),
        )
    out.print(table)
    for tier, t in sorted(bill["tiers"].items()):
        out.print(f"  {tier}: {t['workflows']} workflows, ${t['total']:,.2f}/month")
    out.print(f"Total: ${bill['total']:,.2f}/month")
