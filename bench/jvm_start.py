"""Broker start-up with and without the class archive `lab install` records (AppCDS).

Each round starts a one-broker lab from a fresh directory twice — mapping the archive, and
loading every class from the jars (the peer baseline: how the lab started before) — in
alternating order, and measures the wall-clock seconds until the broker is in the metadata
(what `lab up` and a drill's restart wait for) and the broker JVM's CPU seconds at that moment
(what six JVMs starting on 2 vCPUs compete for). Usage: python -m bench.jvm_start [--rounds N]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from bench._common import cpu_seconds
from bench.report import emit
from streamdr.lab.class_archive import ensure_class_archives
from streamdr.lab.cluster import Lab
from streamdr.runtime.distribution import BROKER_MAIN, KafkaRuntime, ensure_runtime


def one_start(runtime: KafkaRuntime) -> tuple[float, float]:
    """Start a fresh one-broker lab; return (seconds until in the metadata, JVM CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="streamdr-bench-jvm-") as tmp:
        lab = Lab(Path(tmp) / "lab", runtime)
        lab.up(("bench",), 1, timeout=180)  # formats first: not timed
        try:
            lab.down()
            started = time.perf_counter()
            lab.up(timeout=180)
            wall = time.perf_counter() - started
            pid = next(n.pid for n in lab.status() if n.pid)
            return wall, cpu_seconds(pid)
        finally:
            lab.down(purge=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runtime = ensure_runtime()
    archive = next(a for a in ensure_class_archives(runtime) if a.main_class == BROKER_MAIN)
    if archive.path is None:
        raise SystemExit(f"Error: no broker class archive: {archive.problem}")
    baseline = dataclasses.replace(runtime, map_archives=False)
    runs: dict[str, list[tuple[float, float]]] = {"archive": [], "jars": []}
    for i in range(args.rounds):
        order = [("archive", runtime), ("jars", baseline)]
        for name, variant in order if i % 2 == 0 else reversed(order):
            runs[name].append(one_start(variant))
    figures = {
        name: {
            "wall_s_median": round(statistics.median(w for w, _ in vals), 2),
            "cpu_s_median": round(statistics.median(c for _, c in vals), 2),
            "wall_s": [round(w, 2) for w, _ in vals],
            "cpu_s": [round(c, 2) for _, c in vals],
        }
        for name, vals in runs.items()
    }
    ratio_wall = figures["archive"]["wall_s_median"] / figures["jars"]["wall_s_median"]
    ratio_cpu = figures["archive"]["cpu_s_median"] / figures["jars"]["cpu_s_median"]
    result = {
        "rounds": args.rounds,
        "archive_bytes": archive.path.stat().st_size,
        **figures,
        "ratio_wall": round(ratio_wall, 2),
        "ratio_cpu": round(ratio_cpu, 2),
    }
    a, j = figures["archive"], figures["jars"]
    markdown = f"""## Broker start-up with the class archive (`bench/jvm_start.py`)

A one-broker lab restarted from a stopped state ({args.rounds} rounds, alternating order): wall
seconds until the broker is in the metadata, and the broker JVM's CPU seconds at that moment.
Peer baseline: the same start loading every class from the jars (how the lab started before
`lab install` recorded class archives; docs/lab.md).

| start | wall s (median) | JVM CPU s (median) | all rounds, wall s |
|---|---|---|---|
| class archive mapped | {a["wall_s_median"]} | {a["cpu_s_median"]} | {a["wall_s"]} |
| classes from the jars (baseline) | {j["wall_s_median"]} | {j["cpu_s_median"]} | {j["wall_s"]} |

Ratio archive / jars: wall **{ratio_wall:.2f}**, CPU **{ratio_cpu:.2f}** (archive
{archive.path.stat().st_size / 1e6:.0f} MB)."""
    emit("jvm_start", result, markdown)


if __name__ == "__main__":
    main()
