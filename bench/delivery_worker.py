"""Benchmark-only worker process: ``python -m bench.delivery_worker SPEC.json``.

The production Runner and consumer loop with an in-process passthrough transformation (no
signed artifact), so the benchmark measures delivery, not artifact loading.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from streamdr.artifacts.api import ChangeEvent, OutputEvent
from streamdr.pipeline.runner import Runner, plan_run
from streamdr.settings import load_settings
from streamdr.workflows.model import Workflow


def passthrough(event: ChangeEvent) -> list[OutputEvent]:
    """Deliver the row after the change with its key."""
    return [OutputEvent({"key": dict(event.key), "row": dict(event.after or event.before or {})})]


def main(spec_path: str) -> None:
    """Run the workflows of the spec until SIGTERM."""
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    settings = load_settings(Path(spec["settings"]))
    workflows = [Workflow.model_validate(w) for w in spec["workflows"]]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner = Runner(
        settings, plan_run(settings, workflows, lambda ref: passthrough), stop, batch_size=500
    )
    runner.prepare()
    runner.run()


if __name__ == "__main__":
    main(sys.argv[1])
