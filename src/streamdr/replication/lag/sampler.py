"""Periodic lag samples written by the supervisor (``lag.json``), kept per flow.

A failover after a site loss cannot ask the dead site how far behind the target was. The last
sample taken while it was alive can tell: it is the RPO estimate at failover time. So a flow
whose source stops answering keeps its last good sample and only gains an error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from streamdr.fsutil import write_json_atomic
from streamdr.replication.lag.monitor import FlowLag, measure_lag
from streamdr.replication.topology import Topology
from streamdr.settings.loader import load_settings

LAG_FILE = "lag.json"


def sample_once(run_dir: Path, last: dict[str, Any]) -> float:
    """Measure lag once, merge it into ``last`` and ``lag.json``; return the next interval."""
    run = json.loads((run_dir / "run.json").read_text())
    settings = load_settings(Path(run["settings_path"]))
    topology = Topology.from_json((run_dir / "topology.json").read_text())
    report = measure_lag(settings, topology)
    now = time.time()
    flows = last.setdefault("flows", {})
    for flow in report.flows:
        merge_flow(flows.setdefault(flow.flow, {}), flow, now)
    for name in set(flows) - {f.flow for f in report.flows}:
        flows.pop(name)
    last["updated_at"] = now
    write_json_atomic(run_dir / LAG_FILE, last)
    return 2.0 if _lab(settings) else float(settings.replication.lag_sample_seconds)


def merge_flow(entry: dict[str, Any], flow: FlowLag, now: float) -> None:
    """Merge one flow's measurement into its ``lag.json`` entry (in place).

    Only a complete measurement replaces the partitions: one that failed, or that could not
    read the age of some partition's first unreplicated record (a source dying mid-sample
    answers its offsets but not the fetch), keeps the last complete one and records the error.
    """
    entry["heartbeat_age_seconds"] = flow.heartbeat_age_seconds
    unknown = [p for p in flow.partitions if p.seconds_behind is None]
    if flow.error is None and not unknown:
        entry.update(
            {"sampled_at": now, "partitions": [p.as_dict() for p in flow.partitions], "error": None}
        )
        return
    error = flow.error or (
        f"seconds behind unknown on {len(unknown)} partition(s): the first record not yet "
        "replicated could not be read from the source"
    )
    entry.update({"error": error, "error_at": now})


def _lab(settings: Any) -> bool:
    return all(s.lab for s in settings.sites.values())


def read_samples(run_dir: Path) -> dict[str, Any]:
    """Return the last ``lag.json`` (empty when none was written yet)."""
    try:
        doc: dict[str, Any] = json.loads((run_dir / LAG_FILE).read_text())
        return doc
    except (OSError, ValueError):
        return {}
