"""Test-only worker process: ``python -m tests.worker_main SPEC.json``.

Runs the production Runner (consumer group, delivery, DLQ, probes) for workflows described in
the spec, with in-test transformations instead of signed artifacts — so tests can SIGKILL a
real worker process. Never a production path: production runs ``streamdr run``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from streamdr.pipeline.health import HealthServer
from streamdr.pipeline.runner import Runner, plan_run
from streamdr.settings import load_settings
from streamdr.workflows.model import Workflow
from tests.pipeline_helpers import in_test_loader


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    settings = load_settings(Path(spec["settings"]))
    workflows = [Workflow.model_validate(w) for w in spec["workflows"]]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner = Runner(
        settings,
        plan_run(settings, workflows, in_test_loader),
        stop,
        batch_size=spec.get("batch_size", 100),
    )
    runner.prepare()
    server = HealthServer(runner.status, port=spec.get("port", 0)).start()
    print(f"probes on {server.port}", flush=True)
    try:
        runner.run()
    finally:
        server.close()


if __name__ == "__main__":
    main(sys.argv[1])
