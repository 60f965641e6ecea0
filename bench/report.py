"""Benchmark output: one machine-readable JSON line per run, and a section of docs/benchmarks.md.

Each benchmark owns one section between ``<!-- bench:NAME -->`` markers, rewritten on every run,
so results from several benchmarks live side by side in one page.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS_DIR = ROOT / "bench" / "results"
HEADER = """# Benchmarks

Measured with `make bench` / `python -m bench.<name>` on the local lab (real Kafka 4.1 brokers
from the official jars, loopback). Each benchmark runs its peer baseline (raw confluent-kafka
produce/consume) in the same run and reports the ratio next to absolute figures; the raw JSON line
of every run is appended to `bench/results/<name>.jsonl`. Figures are from the machine named
in each
section and move with hardware: compare ratios, not absolutes, across machines.
"""


def machine() -> dict[str, Any]:
    """Return a short description of the machine the run happened on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(name: str, result: dict[str, Any], markdown: str) -> None:
    """Print the JSON line, append it to bench/results/NAME.jsonl, rewrite doc section NAME."""
    doc = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **result,
    }
    line = json.dumps(doc, sort_keys=True)
    sys.stdout.write(line + "\n")
    RESULTS_DIR.mkdir(exist_ok=True)
    with (RESULTS_DIR / f"{name}.jsonl").open("a") as fh:
        fh.write(line + "\n")
    write_section(name, f"{markdown.rstrip()}\n\nMachine: {doc['machine']}; run at {doc['at']}.\n")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the marked section ``name`` of docs/benchmarks.md."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = DOC.read_text() if DOC.exists() else HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(DOC)
