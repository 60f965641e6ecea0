"""The prices file: list prices per instance-hour, GB-month of storage and GB transferred.

A prices file is YAML (see ``prices/aws-us-2025.yaml``, shipped with the package and used by
default). Every value is checked for sign and plausibility, and every problem is reported as
``file:line:column`` like the settings file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError

from streamdr.errors import InputError
from streamdr.yamldoc import (
    DocumentError,
    FieldError,
    field_errors,
    locate,
    parse_yaml,
    read_yaml_text,
    to_plain,
)

DEFAULT_PRICES = "aws-us-2025.yaml"
_HINT = "See docs/cost.md for the prices file format."

# Upper bounds that no real list price reaches: a typo (0.68 → 68000) must not become a forecast.
MAX_INSTANCE_HOUR = 1000.0
MAX_GB_MONTH = 10.0
MAX_GB_TRANSFER = 10.0

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
InstanceRate = Annotated[float, Field(gt=0, le=MAX_INSTANCE_HOUR)]
StorageRate = Annotated[float, Field(ge=0, le=MAX_GB_MONTH)]
TransferRate = Annotated[float, Field(ge=0, le=MAX_GB_TRANSFER)]


class Storage(BaseModel):
    """$ per GB-month of the two storage classes the backup lifecycle uses."""

    model_config = ConfigDict(extra="forbid")

    standard: StorageRate
    glacier: StorageRate


class Transfer(BaseModel):
    """$ per GB moved between regions."""

    model_config = ConfigDict(extra="forbid")

    cross_region: TransferRate


class PriceBook(BaseModel):
    """One prices file: instance, storage and transfer prices plus the billing conventions."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    name: Name
    currency: Literal["USD"] = "USD"
    hours_per_month: float = Field(730, ge=672, le=744)
    gb_per_tb: Literal[1000, 1024] = 1000
    reserved_discount: float = Field(0.0, ge=0, le=0.9)
    instances: dict[Name, InstanceRate] = Field(min_length=1)
    storage: Storage
    transfer: Transfer

    _source: str = PrivateAttr(default="<prices>")
    _instances_at: tuple[int, int] = PrivateAttr(default=(1, 1))

    def instance_rate(self, instance: str) -> float:
        """Return the $/hour of ``instance``; raises InputError naming the file and line."""
        if instance not in self.instances:
            line, col = self._instances_at
            known = ", ".join(sorted(self.instances))
            raise DocumentError(
                [FieldError(self._source, line, col, "instances", f"no price for {instance!r}")],
                hint=f"Add {instance} under `instances:` (known: {known}), or choose a priced "
                "instance type.",
            )
        return self.instances[instance]

    def describe(self) -> dict[str, Any]:
        """Return the name and source of the prices, for reports."""
        return {"name": self.name, "source": self._source, "currency": self.currency}


def parse_prices(text: str, source: str) -> PriceBook:
    """Return the PriceBook in YAML ``text``; raises DocumentError listing every problem."""
    doc = parse_yaml(text, source)
    if not isinstance(doc, dict):
        raise DocumentError(
            [FieldError(source, 1, 1, "", "expected a mapping with name, instances, storage")],
            hint=_HINT,
        )
    try:
        book = PriceBook.model_validate(to_plain(doc))
    except ValidationError as exc:
        raise DocumentError(field_errors(exc, doc, source), hint=_HINT) from exc
    book._source = source
    book._instances_at = locate(doc, ["instances"])
    return book


def load_prices(path: Path | None = None) -> PriceBook:
    """Return the prices in ``path``, or the packaged default; raises InputError."""
    if path is not None:
        return parse_prices(read_yaml_text(path), str(path))
    packaged = resources.files("streamdr.cost") / "prices" / DEFAULT_PRICES
    try:
        text = packaged.read_text(encoding="utf-8")
    except OSError as exc:  # a broken install, not a user mistake
        raise InputError(
            f"the packaged prices file {DEFAULT_PRICES} is missing",
            hint="Reinstall streamdr, or pass --prices FILE.",
        ) from exc
    return parse_prices(text, f"<package>/{DEFAULT_PRICES}")
