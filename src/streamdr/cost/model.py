"""Cost arithmetic: a bill of components priced by a PriceBook, monthly and cumulative.

Pure. Appendix C's printed table is kept here as data so the report can show, line by line,
where the appendix rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamdr.cost.options import Component, Option, Scenario, components
from streamdr.cost.prices import PriceBook

MONTHS_PER_YEAR = 12

# Appendix C of the strategy, as printed ($/month); the "Total" row and the annual figure too.
APPENDIX_C: dict[str, float] = {
    "primary_brokers": 4471.0,
    "dr_brokers": 2484.0,
    "mirrormaker": 496.0,
    "s3_standard": 11.50,
    "s3_glacier": 38.96,
    "transfer": 20.0,
    "total": 7521.0,
    "annual": 90252.0,
}

# Why the model and the appendix differ on a row (the appendix's own arithmetic).
APPENDIX_NOTES: dict[str, str] = {
    "primary_brokers": "9 x 0.68 x 730 = 4,467.60; the appendix used ~$0.6805/hour",
    "dr_brokers": "5 x 0.68 x 730 = 2,482.00; the appendix used ~$0.6805/hour",
    "mirrormaker": "2 x 0.34 x 730 = 496.40, rounded down",
    "s3_standard": "500 x 0.023 = 11.50, exact",
    "s3_glacier": "9,500 GB x 0.004 = 38.00 (9.5 TiB = 38.91); 38.96 matches neither",
    "transfer": "1,000 GB x 0.02 = 20.00, exact",
    "total": "sum of the appendix's own rows is 7,521.46",
    "annual": "the appendix multiplies its rounded 7,521 by 12",
}


@dataclass(frozen=True)
class CostLine:
    """One priced component: its unit price (per hour, GB-month or GB) and monthly cost."""

    component: Component
    unit_price: float
    unit: str
    monthly: float

    def as_dict(self) -> dict[str, Any]:
        """Return the line as a JSON-ready mapping."""
        c = self.component
        return {
            "key": c.key,
            "label": c.label,
            "kind": c.kind,
            "item": c.item,
            "quantity": c.quantity,
            "reserved": c.reserved,
            "unit_price": self.unit_price,
            "unit": self.unit,
            "monthly": round(self.monthly, 2),
        }


@dataclass(frozen=True)
class OptionCost:
    """The priced bill of one option under one scenario."""

    option: Option
    lines: tuple[CostLine, ...]
    workflows: int

    @property
    def monthly(self) -> float:
        """Return the total per month."""
        return sum(line.monthly for line in self.lines)

    @property
    def annual(self) -> float:
        """Return the total per year."""
        return self.monthly * MONTHS_PER_YEAR

    def cumulative(self, years: int) -> list[float]:
        """Return the cumulative cost at the end of each month for ``years`` years."""
        return [round(self.monthly * m, 2) for m in range(1, years * MONTHS_PER_YEAR + 1)]

    def as_dict(self, years: int) -> dict[str, Any]:
        """Return the bill, totals and the cumulative series as a JSON-ready mapping."""
        return {
            "option": int(self.option),
            "title": self.option.title,
            "lines": [line.as_dict() for line in self.lines],
            "monthly": round(self.monthly, 2),
            "annual": round(self.annual, 2),
            "per_workflow_monthly": round(self.monthly / self.workflows, 2),
            "total_over_years": round(self.monthly * MONTHS_PER_YEAR * years, 2),
            "cumulative_by_month": self.cumulative(years),
        }


def price_line(c: Component, prices: PriceBook) -> CostLine:
    """Return ``c`` priced; raises InputError when the prices lack its instance type."""
    if c.kind == "compute":
        rate = prices.instance_rate(c.item)
        if c.reserved:
            rate *= 1 - prices.reserved_discount
        return CostLine(c, rate, "hour", c.quantity * rate * prices.hours_per_month)
    if c.kind == "storage":
        rate = getattr(prices.storage, c.item)
        return CostLine(c, rate, "GB-month", c.quantity * rate)
    rate = getattr(prices.transfer, c.item)
    return CostLine(c, rate, "GB", c.quantity * rate)


def option_cost(option: Option, scenario: Scenario, prices: PriceBook) -> OptionCost:
    """Return the priced bill of ``option``; raises InputError for an unpriced instance type."""
    lines = tuple(price_line(c, prices) for c in components(option, scenario))
    return OptionCost(option, lines, scenario.workflows)


def appendix_comparison(cost: OptionCost) -> list[dict[str, Any]]:
    """Return, per Appendix C row, the appendix's figure, the model's and the difference."""
    ours = {line.component.key: line.monthly for line in cost.lines}
    ours["total"] = cost.monthly
    ours["annual"] = cost.annual
    return [
        {
            "row": key,
            "appendix": printed,
            "model": round(ours[key], 2),
            "difference": round(printed - ours[key], 2),
            "note": APPENDIX_NOTES[key],
        }
        for key, printed in APPENDIX_C.items()
        if key in ours
    ]


@dataclass(frozen=True)
class Saving:
    """One of Appendix C's cost optimisations, quantified by the model."""

    name: str
    appendix_claim: str
    monthly_saving: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """Return the saving as a JSON-ready mapping."""
        return {
            "name": self.name,
            "appendix_claim": self.appendix_claim,
            "monthly_saving": round(self.monthly_saving, 2),
            "annual_saving": round(self.monthly_saving * MONTHS_PER_YEAR, 2),
            "detail": self.detail,
        }


def optimisations(scenario: Scenario, prices: PriceBook) -> list[Saving]:
    """Return Appendix C's three optimisations priced against Option 2 under ``scenario``."""
    base = option_cost(Option.ACTIVE_PASSIVE, scenario, prices)
    lines = {line.component.key: line for line in base.lines}
    primary, dr, glacier = lines["primary_brokers"], lines["dr_brokers"], lines["s3_glacier"]
    ri = 0.0 if scenario.reserved else primary.monthly * prices.reserved_discount
    per_broker = dr.monthly / dr.component.quantity
    dr_cut = max(0.0, dr.component.quantity - 3) * per_broker
    # The archive holds backups from day 90 to the retention limit; shortening that window
    # shrinks it in proportion (steady state, constant daily volume).
    kept = (2 * 365 - 90) / (7 * 365 - 90)
    archive_cut = glacier.monthly * (1 - kept)
    return [
        Saving(
            "reserved-instances-primary",
            "save 30-40%",
            ri,
            f"{prices.reserved_discount:.0%} off {primary.component.quantity:g} primary brokers",
        ),
        Saving(
            "dr-cluster-3-brokers",
            "save $1,490/month",
            dr_cut,
            f"{dr.component.quantity:g} → 3 DR brokers at ${per_broker:,.2f}/month each",
        ),
        Saving(
            "backup-retention-2-years",
            "save ~$30/month",
            archive_cut,
            f"Glacier keeps {kept:.0%} of today's archive (days 90-730 instead of 90-2555)",
        ),
    ]
