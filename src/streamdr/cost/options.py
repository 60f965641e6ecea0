"""The strategy's four options as bills of materials: what each one runs, stores and moves.

Pure: a :class:`Scenario` (the inputs) becomes a list of :class:`Component` for one option; the
prices are applied in model.py. Defaults are Appendix C's assumptions, stated for 100 workflows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

from streamdr.errors import InputError

# Kafka needs three brokers for replication factor 3 with min.insync.replicas 2.
MIN_BROKERS = 3


class Option(IntEnum):
    """The strategy's recovery options ("Comparison of Recovery Strategies")."""

    SINGLE_SITE = 1
    ACTIVE_PASSIVE = 2
    ACTIVE_ACTIVE = 3
    HYBRID = 4

    @property
    def title(self) -> str:
        """Return the option's name as the strategy writes it."""
        return _TITLES[self]


_TITLES = {
    Option.SINGLE_SITE: "Single-site with backups",
    Option.ACTIVE_PASSIVE: "Active-passive",
    Option.ACTIVE_ACTIVE: "Active-active",
    Option.HYBRID: "Hybrid (tiered)",
}


@dataclass(frozen=True)
class TierMix:
    """Share of workflows (and of their traffic) per tier; the three shares add up to 1."""

    critical: float = 0.1
    standard: float = 0.6
    non_critical: float = 0.3

    def __post_init__(self) -> None:
        shares = (self.critical, self.standard, self.non_critical)
        if any(s < 0 or s > 1 for s in shares) or not math.isclose(sum(shares), 1.0, abs_tol=1e-6):
            raise InputError(
                f"tier mix {shares} is not three shares between 0 and 1 adding up to 1",
                hint="Give e.g. --tier-mix critical=10,standard=60,non-critical=30 (percent).",
            )

    def as_dict(self) -> dict[str, float]:
        """Return the shares keyed by tier name."""
        return {
            "critical": self.critical,
            "standard": self.standard,
            "non-critical": self.non_critical,
        }


@dataclass(frozen=True)
class Scenario:
    """The inputs of the model. Volumes are for ``reference_workflows`` and scale linearly."""

    workflows: int = 100
    reference_workflows: int = 100
    primary_brokers: int = 9
    broker_instance: str = "c5.4xlarge"
    dr_ratio: float = 0.5  # the strategy's "DR cluster is 50-60% size of primary"
    mm_instances: int = 2
    mm_instance: str = "c5.2xlarge"
    standard_gb: float = 500.0  # backups younger than 90 days (S3 Standard)
    archive_gb: float = 9500.0  # backups 90 days to 7 years old (Glacier)
    transfer_gb_month: float = 1000.0  # primary → DR replication traffic
    reserved: bool = False  # primary brokers on Reserved Instances
    tier_mix: TierMix = field(default_factory=TierMix)

    def __post_init__(self) -> None:
        if not 1 <= self.workflows <= 1_000_000 or not 1 <= self.reference_workflows <= 1_000_000:
            raise InputError(
                f"workflows must be between 1 and 1000000, not {self.workflows}",
                hint="Pass --workflows N with a realistic platform size.",
            )
        if not 0 < self.dr_ratio <= 1:
            raise InputError(f"dr_ratio {self.dr_ratio} is not in (0, 1]", hint="Use 0.5-0.6.")

    @property
    def scale(self) -> float:
        """Return how many times the reference platform this scenario is."""
        return self.workflows / self.reference_workflows

    def primary(self) -> int:
        """Return the primary cluster's broker count at this scale."""
        return max(MIN_BROKERS, math.ceil(self.primary_brokers * self.scale - 1e-9))

    def mirror_makers(self, share: float = 1.0) -> int:
        """Return MirrorMaker instances for ``share`` of the replicated traffic (0 for none)."""
        if share <= 0:
            return 0
        return max(1, math.ceil(self.mm_instances * self.scale * share - 1e-9))


@dataclass(frozen=True)
class Component:
    """One line of a bill: ``quantity`` of ``item`` (an instance type, storage class, transfer)."""

    key: str
    label: str
    kind: str  # "compute" (instances), "storage" (GB-month) or "transfer" (GB)
    item: str
    quantity: float
    reserved: bool = False


def _backups(s: Scenario) -> list[Component]:
    return [
        Component(
            "s3_standard", "S3 storage (Standard)", "storage", "standard", s.standard_gb * s.scale
        ),
        Component(
            "s3_glacier", "S3 storage (Glacier)", "storage", "glacier", s.archive_gb * s.scale
        ),
    ]


def _primary(s: Scenario) -> Component:
    return Component(
        "primary_brokers",
        "Primary Kafka brokers",
        "compute",
        s.broker_instance,
        s.primary(),
        reserved=s.reserved,
    )


def _transfer(s: Scenario, share: float, label: str) -> Component:
    return Component(
        "transfer", label, "transfer", "cross_region", s.transfer_gb_month * s.scale * share
    )


def dr_brokers(s: Scenario, full_share: float, passive_share: float) -> int:
    """Return DR brokers for ``full_share`` of traffic at full size plus ``passive_share`` at
    the DR ratio (never fewer than MIN_BROKERS)."""
    wanted = s.primary() * (full_share + passive_share * s.dr_ratio)
    return max(MIN_BROKERS, math.ceil(wanted - 1e-9))


def components(option: Option, s: Scenario) -> list[Component]:
    """Return what ``option`` runs, stores and transfers per month under scenario ``s``."""
    if option is Option.SINGLE_SITE:
        # Backups copied to a second region (the option's S3 geo-replication); no DR cluster.
        return [_primary(s), *_backups(s), _transfer(s, 1.0, "Backup copy (cross-region)")]
    if option is Option.ACTIVE_PASSIVE:
        return [
            _primary(s),
            Component(
                "dr_brokers",
                "DR Kafka brokers",
                "compute",
                s.broker_instance,
                dr_brokers(s, 0.0, 1.0),
            ),
            Component(
                "mirrormaker", "MirrorMaker instances", "compute", s.mm_instance, s.mirror_makers()
            ),
            *_backups(s),
            _transfer(s, 1.0, "Data transfer (cross-region)"),
        ]
    if option is Option.ACTIVE_ACTIVE:
        # Each region serves half the clients and replicates its half: every byte crosses once.
        return [
            _primary(s),
            Component(
                "dr_brokers", "Second-region brokers", "compute", s.broker_instance, s.primary()
            ),
            Component(
                "mirrormaker",
                "MirrorMaker instances (both ways)",
                "compute",
                s.mm_instance,
                2 * s.mirror_makers(),
            ),
            *_backups(s),
            _transfer(s, 1.0, "Data transfer (cross-region)"),
        ]
    return _hybrid(s)


def _hybrid(s: Scenario) -> list[Component]:
    mix = s.tier_mix
    replicated = mix.critical + mix.standard
    return [
        _primary(s),
        Component(
            "dr_brokers",
            "DR Kafka brokers (critical full, standard at DR ratio)",
            "compute",
            s.broker_instance,
            dr_brokers(s, mix.critical, mix.standard),
        ),
        Component(
            "mirrormaker",
            "MirrorMaker instances",
            "compute",
            s.mm_instance,
            s.mirror_makers(replicated) + s.mirror_makers(mix.critical),
        ),
        *_backups(s),
        _transfer(s, replicated, "Data transfer (critical + standard)"),
    ]


def parse_option(text: str) -> list[Option]:
    """Return the options named by ``text`` ("1".."4" or "all"); raises InputError."""
    if text.strip().lower() == "all":
        return list(Option)
    try:
        return [Option(int(text))]
    except ValueError as exc:
        raise InputError(
            f"unknown option {text!r}", hint="Use --option 1, 2, 3, 4 or all."
        ) from exc
