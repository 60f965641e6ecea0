"""The chaos fault catalog and a seeded, reproducible schedule of faults. Pure."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from streamdr.errors import InputError


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault: how long it is held (seconds, min/max) and what it does."""

    name: str
    hold: tuple[float, float]
    description: str
    needs_broker: bool = False
    needs_mm2: bool = False  # only in runs that start MirrorMaker 2
    recovery_timeout: float = 120.0  # seconds from the heal for the fault to count as recovered


CATALOG: dict[str, FaultKind] = {
    k.name: k
    for k in (
        FaultKind("kill-broker", (3, 10), "SIGKILL one broker of the active site", True),
        FaultKind("kill-worker", (2, 6), "SIGKILL the pipeline worker"),
        FaultKind("kill-cdc", (2, 6), "SIGKILL the CDC reader"),
        FaultKind("stop-postgres", (3, 8), "immediate shutdown of the source PostgreSQL"),
        FaultKind("endpoint-outage", (3, 10), "stop the client endpoint"),
        FaultKind("partition-broker", (3, 10), "cut one broker off from clients", True),
        FaultKind("partition-site", (3, 8), "cut the whole active site off from clients"),
        FaultKind("wan-latency", (3, 10), "WAN latency spike (300 ms +/- 50) between sites"),
        FaultKind(
            "kill-mm2",
            (2, 6),
            "SIGKILL the MirrorMaker 2 JVM (its supervisor restarts it)",
            needs_mm2=True,
            # An MM2 JVM took over 3 minutes from spawn to a running herder on the loaded lab
            # host (plugin scanning, Connect group join); 120 s would fail the JVM, not MM2.
            recovery_timeout=300.0,
        ),
    )
}
DEFAULT_GAP = (2.0, 6.0)  # seconds of calm before each fault


@dataclass(frozen=True)
class PlannedFault:
    """One fault of a schedule: its number, kind, calm before it, hold time and target."""

    index: int
    kind: str
    calm_before: float
    hold: float
    target: int | None  # broker node id for faults that need one

    def as_dict(self) -> dict[str, Any]:
        """Return the fault as a JSON-ready mapping."""
        return asdict(self)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """Return the fault kinds named in ``a,b,c`` (all of them when empty).

    Raises InputError for an unknown name.
    """
    if not text:
        return tuple(CATALOG)
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in CATALOG]
    if unknown or not names:
        raise InputError(
            f"unknown chaos faults: {', '.join(unknown) or text!r}",
            hint=f"Choose from: {', '.join(CATALOG)}.",
        )
    return names


def usable_kinds(kinds: tuple[str, ...], *, with_mm2: bool) -> tuple[str, ...]:
    """Return ``kinds`` without the faults that need MirrorMaker 2 when the run has none.

    Raises InputError when nothing is left.
    """
    usable = tuple(k for k in kinds if with_mm2 or not CATALOG[k].needs_mm2)
    if not usable:
        raise InputError(
            f"the faults {', '.join(kinds)} need MirrorMaker 2, which this run does not start",
            hint="Drop --no-mm2 (MM2 needs a second lab site), or choose other --faults.",
        )
    return usable


def plan_faults(
    seed: int,
    duration: float,
    kinds: tuple[str, ...],
    *,
    brokers: int = 3,
    gap: tuple[float, float] = DEFAULT_GAP,
    recovery_allowance: float = 10.0,
) -> list[PlannedFault]:
    """Return a schedule of faults, one at a time, that fits in ``duration`` seconds.

    The same seed, duration, kinds and broker count always give the same schedule. Each fault
    is budgeted its calm, its hold and ``recovery_allowance``; at least one fault is planned.
    Raises InputError when ``kinds`` is empty or names an unknown fault.
    """
    if not kinds or any(k not in CATALOG for k in kinds):
        raise InputError(
            "no valid chaos faults to plan", hint=f"Choose from: {', '.join(CATALOG)}."
        )
    rng = random.Random(seed)
    out: list[PlannedFault] = []
    used = 0.0
    while True:
        kind = CATALOG[rng.choice(kinds)]
        calm = round(rng.uniform(*gap), 1)
        hold = round(rng.uniform(*kind.hold), 1)
        target = rng.randint(1, brokers) if kind.needs_broker else None
        cost = calm + hold + recovery_allowance
        if out and used + cost > duration:
            return out
        out.append(PlannedFault(len(out) + 1, kind.name, calm, hold, target))
        used += cost
