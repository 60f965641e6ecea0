"""Capacity sizing from measurements: MirrorMaker 2, the DR cluster, backup workers.

Pure. Every sizing names the measurement it used; without one it says so and sizes nothing,
because a hard-coded throughput would be a guess dressed as a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streamdr.cost.measurements import Measurement, Measurements

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Sizing:
    """One answer: how many of ``what`` are needed, and from which measurements."""

    what: str
    needed: int | None
    reasoning: str
    used: tuple[Measurement, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """Return the sizing as a JSON-ready mapping (``needed`` None: no measurement)."""
        return {
            "what": self.what,
            "needed": self.needed,
            "reasoning": self.reasoning,
            "measurements": [m.as_dict() for m in self.used],
        }


def _missing(what: str, benchmark: str) -> Sizing:
    return Sizing(
        what, None, f"no valid {benchmark} measurement: run `python -m bench.{benchmark}`"
    )


def size_mirrormaker(peak_records_per_s: float, m: Measurements, headroom: float) -> list[Sizing]:
    """Return MM2 tasks and instances for ``peak_records_per_s`` with ``headroom`` (0.3 = 30%)."""
    task, per_instance = m.mm2_task_records_per_s, m.mm2_tasks_per_instance
    if task is None or per_instance is None:
        return [_missing("MirrorMaker 2 tasks", "replication")]
    tasks = math.ceil(peak_records_per_s * (1 + headroom) / task.value)
    instances = math.ceil(tasks / per_instance.value)
    why = (
        f"{peak_records_per_s:g} records/s x {1 + headroom:g} headroom / {task.value:g} "
        f"records/s per task = {tasks} tasks; {per_instance.value:g} tasks per instance"
    )
    return [
        Sizing("MirrorMaker 2 tasks", tasks, why, (task,)),
        Sizing("MirrorMaker 2 instances", instances, why, (task, per_instance)),
    ]


def size_dr_cluster(
    primary_brokers: int, failover_bytes_per_s: float, m: Measurements, headroom: float
) -> list[Sizing]:
    """Return the DR cluster by the strategy's 50-60 % rule and by the measured failover load."""
    low, high = math.ceil(primary_brokers * 0.5), math.ceil(primary_brokers * 0.6)
    rule = Sizing(
        "DR brokers (strategy rule)",
        max(3, high),
        f"50-60 % of {primary_brokers} primary brokers = {low}-{high} (never below 3)",
    )
    broker = m.broker_produce_bytes_per_s
    if broker is None:
        return [rule, _missing("DR brokers (failover load)", "lab_baseline")]
    load = math.ceil(failover_bytes_per_s * (1 + headroom) / broker.value)
    by_load = Sizing(
        "DR brokers (failover load)",
        max(3, load),
        f"{failover_bytes_per_s / 1e6:g} MB/s x {1 + headroom:g} / {broker.value / 1e6:g} MB/s "
        f"per broker = {load} (never below 3); measured on lab hardware, scale to yours",
        (broker,),
    )
    return [rule, by_load]


def size_backup_workers(
    daily_bytes: float, window_hours: float, m: Measurements, headroom: float
) -> list[Sizing]:
    """Return the backup workers that copy ``daily_bytes`` within ``window_hours`` a day."""
    worker = m.backup_worker_bytes_per_s
    if worker is None:
        return [_missing("backup workers", "backup_restore")]
    per_window = worker.value * window_hours * 3600
    workers = max(1, math.ceil(daily_bytes * (1 + headroom) / per_window))
    why = (
        f"{daily_bytes / 1e9:g} GB/day x {1 + headroom:g} / ({worker.value / 1e6:g} MB/s x "
        f"{window_hours:g} h) = {workers}"
    )
    return [Sizing("backup workers", workers, why, (worker,))]
