"""Benchmark results (bench/results/*.jsonl) read as hostile input and reduced to named figures.

Each :class:`Measurement` says where it came from (file, line, date) so a sizing can cite it.
Lines that are not the expected JSON shape are reported, never silently used.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_RESULTS_BYTES = 16 * 1024 * 1024
DEFAULT_RESULTS_DIR = Path("bench/results")


@dataclass(frozen=True)
class Measurement:
    """One figure taken from one benchmark record."""

    name: str
    value: float
    unit: str
    file: str
    line: int
    at: str | None

    def cite(self) -> str:
        """Return ``file:line (date): name = value unit`` for reports."""
        where = f"{self.file}:{self.line} ({self.at or 'undated'})"
        return f"{where}: {self.name} = {self.value:g} {self.unit}"

    def as_dict(self) -> dict[str, Any]:
        """Return the measurement as a JSON-ready mapping."""
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "file": self.file,
            "line": self.line,
            "at": self.at,
        }


def _number(doc: Any, *path: str) -> float:
    """Return the positive finite number at ``path`` in ``doc``; raises ValueError otherwise."""
    node = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"missing {'.'.join(path)}")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float) or not 0 < node < 1e15:
        raise ValueError(f"{'.'.join(path)} is not a positive number")
    return float(node)


def _records(path: Path, benchmark: str) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Return ``(line, record)`` pairs of ``benchmark`` in ``path`` and one problem per bad line."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_RESULTS_BYTES + 1)
    except OSError:
        return [], []  # no such benchmark has been run: the caller says "no measurement"
    if len(data) > MAX_RESULTS_BYTES:
        return [], [f"{path}: larger than {MAX_RESULTS_BYTES} bytes, not read"]
    good, bad = [], []
    for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            bad.append(f"{path}:{number}: not JSON")
            continue
        if isinstance(doc, dict) and doc.get("benchmark") == benchmark:
            good.append((number, doc))
        else:
            bad.append(f"{path}:{number}: not a {benchmark} record")
    return good, bad


def _latest(
    path: Path, benchmark: str, figure: Callable[[dict[str, Any]], float], name: str, unit: str
) -> tuple[Measurement | None, list[str]]:
    """Return the figure of the newest valid record (file order), and the lines skipped."""
    records, problems = _records(path, benchmark)
    for number, doc in reversed(records):
        try:
            value = figure(doc)
        except (ValueError, statistics.StatisticsError) as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        at = doc.get("at") if isinstance(doc.get("at"), str) else None
        return Measurement(name, round(value, 3), unit, str(path), number, at), problems
    return None, problems


def _mm2_task_rate(doc: dict[str, Any]) -> float:
    return _number(doc, "drain", "mm2_drain_per_s") / _number(doc, "mm2_tasks_max")


def _backup_worker_bytes(doc: dict[str, Any]) -> float:
    rounds = doc.get("rounds")
    if not isinstance(rounds, list) or not rounds:
        raise ValueError("no rounds")
    rates = [_number(r, "backup", "records_per_s") for r in rounds]
    return statistics.median(rates) * _number(doc, "record_bytes")


def _broker_produce_bytes(doc: dict[str, Any]) -> float:
    # The lab's sites have three combined broker+controller nodes; RF 3 writes every byte to
    # each of them, so the cluster figure is also what one broker sustained.
    return _number(doc, "produce_mb_per_s") * 1_000_000


@dataclass(frozen=True)
class Measurements:
    """The figures capacity sizing uses; None where no valid measurement exists."""

    mm2_task_records_per_s: Measurement | None
    mm2_tasks_per_instance: Measurement | None
    backup_worker_bytes_per_s: Measurement | None
    broker_produce_bytes_per_s: Measurement | None
    problems: tuple[str, ...]


def read_measurements(results: Path = DEFAULT_RESULTS_DIR) -> Measurements:
    """Return the newest valid figures from the benchmark results in directory ``results``."""
    rep, lab, bak = (
        results / f for f in ("replication.jsonl", "lab_baseline.jsonl", "backup_restore.jsonl")
    )
    task, p1 = _latest(rep, "replication", _mm2_task_rate, "mm2 drain per task", "records/s")
    tasks, _ = _latest(
        rep, "replication", lambda d: _number(d, "mm2_tasks_max"), "mm2 tasks per instance", "tasks"
    )
    worker, p2 = _latest(
        bak, "backup_restore", _backup_worker_bytes, "backup worker median throughput", "bytes/s"
    )
    broker, p3 = _latest(
        lab, "lab_baseline", _broker_produce_bytes, "lab produce throughput (RF 3)", "bytes/s"
    )
    return Measurements(task, tasks, worker, broker, tuple(p1 + p2 + p3))
