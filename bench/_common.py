"""What the lab benchmarks share around their measurement: the lab's arguments and lifetime.

Results are written by :func:`bench.report.emit` (JSON line + docs/benchmarks.md section); this
module keeps the part before it: ``--lab-dir``/``--keep-lab`` and a lab that is always taken
down (purged) unless kept, also when bringing it up fails half-way.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from streamdr.lab.cluster import Lab


def add_lab_arguments(parser: argparse.ArgumentParser, default_dir: Path | None) -> None:
    """Add ``--lab-dir`` (None: a fresh temporary lab, removed afterwards) and ``--keep-lab``."""
    parser.add_argument(
        "--lab-dir",
        type=Path,
        default=default_dir,
        help="Lab directory (default: %(default)s; none: a fresh temporary one).",
    )
    parser.add_argument("--keep-lab", action="store_true", help="Leave the lab running.")


def quiet_kafka_logs() -> None:
    """Silence librdkafka's connection chatter (brokers come and go during a bench)."""
    logging.getLogger("streamdr.librdkafka").setLevel(logging.CRITICAL)


@contextmanager
def bench_lab(
    lab_dir: Path | None,
    *,
    keep: bool = False,
    prefix: str = "streamdr-bench-",
    up: Callable[[Lab], object] = Lab.up,
    make_lab: Callable[[Path], Lab] = Lab,
) -> Iterator[Lab]:
    """Yield a lab brought up with ``up`` in ``lab_dir`` (None: a temporary directory).

    On the way out — also when ``up`` or the body raised — the lab is taken down and purged and
    a temporary directory removed, unless ``keep``. Raises whatever ``up`` or the body raises.
    """
    scratch = None if lab_dir else Path(tempfile.mkdtemp(prefix=prefix))
    lab = make_lab(lab_dir or scratch / "lab")  # type: ignore[operator]
    try:
        up(lab)
        yield lab
    finally:
        if not keep:
            lab.down(purge=True)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Return ``field`` of /proc/PID/status (VmRSS now, VmHWM the peak) in MiB; 0.0 when gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds of process ``pid`` so far (0.0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
