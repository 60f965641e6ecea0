"""What isolating a transformation costs: in-process vs a confined host, per event and per batch.

Runs one small transformation (copy two fields, add one) three ways over the same events:
in-process (``run_transform`` on the imported callable), isolated with one event per round trip,
and isolated with ``--batch`` events per round trip. Prints one JSON line with events/s and
µs/event for each. Usage: ``PYTHONPATH=src python -m bench.transform_isolation``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamdr.artifacts.api import ChangeEvent
from streamdr.artifacts.host import HostSpec, TransformHost
from streamdr.pipeline.transform import run_transform, run_transforms

TRANSFORM = (
    "from streamdr.artifacts.api import OutputEvent\n\n"
    "def transform(event):\n"
    "    row = event.after or {}\n"
    "    return [OutputEvent({'id': row.get('id'), 'total': row.get('total'), 'cents': True})]\n"
)


def _events(count: int) -> list[ChangeEvent]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        ChangeEvent(f"e{i}", "shop", "public.orders", "insert", {"id": i}, None,
                    {"id": i, "total": i * 3, "note": "x" * 64}, at, f"0/{i}")
        for i in range(count)
    ]  # fmt: skip


def _measure(run: Callable[[], Any], events: int) -> dict[str, float]:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    return {
        "events_per_s": round(events / elapsed),
        "us_per_event": round(elapsed / events * 1e6, 1),
    }


def _in_process(directory: Path) -> Callable[..., Any]:
    spec = importlib.util.spec_from_file_location("bench_transform", directory / "transform.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.transform  # type: ignore[no-any-return]


def main() -> None:
    """Run the three measurements and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    events = _events(args.events)
    with tempfile.TemporaryDirectory(prefix="streamdr-bench-") as scratch:
        directory = Path(scratch)
        (directory / "transform.py").write_text(TRANSFORM)
        func = _in_process(directory)
        host = TransformHost(HostSpec(directory, "transform:transform", "_bench", "bench@1.0.0"))
        start = time.perf_counter()
        host.start()
        started_ms = round((time.perf_counter() - start) * 1000, 1)
        try:
            result = {
                "bench": "transform_isolation",
                "events": args.events,
                "batch": args.batch,
                "host_start_ms": started_ms,
                "in_process": _measure(
                    lambda: [run_transform(func, e) for e in events], len(events)
                ),
                "isolated_per_event": _measure(
                    lambda: [run_transforms(host, [e]) for e in events], len(events)
                ),
                "isolated_per_batch": _measure(
                    lambda: [
                        run_transforms(host, events[i : i + args.batch])
                        for i in range(0, len(events), args.batch)
                    ],
                    len(events),
                ),
            }
        finally:
            host.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
