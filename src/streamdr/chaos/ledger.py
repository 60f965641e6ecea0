"""The chaos ledger: committed at the source = applied at the endpoint + dead-lettered. Pure.

An event that does not balance (lost, or applied twice) is explained by the fault windows its
commit falls in: a window runs from the fault's injection to its recovery plus a grace period
(events committed just before a fault are still in flight when it hits).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

SAMPLE = 50  # events listed per problem; counts are always complete
GRACE_S = 5.0


@dataclass(frozen=True)
class FaultWindow:
    """When one injected fault was active: injected, healed and recovered (epoch seconds)."""

    index: int
    kind: str
    injected_at: float
    healed_at: float
    recovered_at: float | None


def windows_for(at: float, windows: list[FaultWindow], grace: float = GRACE_S) -> list[int]:
    """Return the indexes of the fault windows an event committed at ``at`` falls in."""
    out = []
    for w in windows:
        end = (w.recovered_at if w.recovered_at is not None else w.healed_at) + grace
        if w.injected_at - grace <= at <= end:
            out.append(w.index)
    return out


def balance(
    committed: dict[int, float],
    applied: list[int],
    dead_lettered: dict[int, str],
    windows: list[FaultWindow],
) -> dict[str, Any]:
    """Return the ledger: counts, whether it balances, and each problem event's fault windows.

    ``committed`` maps event -> commit time, ``applied`` lists every application (repeats
    included), ``dead_lettered`` maps event -> reason. An event both applied and dead-lettered
    counts as doubled; one neither applied nor dead-lettered as lost; an application of an
    event never committed as unexpected (a ledger that balances has none of the three).
    """
    counts = Counter(applied)
    doubled = sorted(
        n for n in committed if counts.get(n, 0) + (1 if n in dead_lettered else 0) > 1
    )
    lost = sorted(n for n in committed if n not in counts and n not in dead_lettered)
    unexpected = sorted(n for n in counts if n not in committed)
    return {
        "events_committed": len(committed),
        "events_applied": len(set(applied) & set(committed)),
        "events_dead_lettered": len(set(dead_lettered) & set(committed)),
        "events_lost": len(lost),
        "events_applied_twice": len(doubled),
        "events_unexpected": len(unexpected),
        "balanced": not lost and not doubled and not unexpected,
        "lost": _explain(lost, committed, windows),
        "applied_twice": _explain(doubled, committed, windows),
        "unexpected_sample": unexpected[:SAMPLE],
        "dead_letter_reasons": dict(Counter(dead_lettered.values())),
    }


def _explain(
    events: list[int], committed: dict[int, float], windows: list[FaultWindow]
) -> list[dict[str, Any]]:
    return [
        {
            "event": n,
            "committed_at": committed[n],
            "fault_windows": windows_for(committed[n], windows),
        }
        for n in events[:SAMPLE]
    ]


def problems_by_fault(ledger: dict[str, Any]) -> dict[int | str, int]:
    """Return fault index (or ``"none"``) -> how many listed problem events fall in it."""
    out: Counter[int | str] = Counter()
    for item in ledger["lost"] + ledger["applied_twice"]:
        for idx in item["fault_windows"] or ["none"]:
            out[idx] += 1
    return dict(out)
