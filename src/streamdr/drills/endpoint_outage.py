"""Drill ``endpoint-outage``: the client endpoint dies under load; nothing lost, nothing twice.

Steady CDC load flows PostgreSQL → Kafka → worker → reference endpoint. The endpoint is killed
(SIGKILL) for a while: the breaker must open and the worker must stop being ready; records wait
in Kafka (backlog) or, after their attempts, in the DLQ. The endpoint comes back (same store),
the backlog drains, the DLQ is replayed with the same idempotency keys, and every committed
change must be applied exactly once. RTO = endpoint back → every committed change applied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import DELIVERY_MODES
from streamdr.drills.pipeline_rig import (
    PipelineRig,
    exactly_once_checks,
    run_on_rig,
    steady_load,
    verify_exactly_once,
)
from streamdr.drills.report import DrillReport
from streamdr.policy.tiers import Targets

RATE = 40.0
WARMUP_S = 5.0
OUTAGE_S = 15.0
DRAIN_TIMEOUT_S = 120.0


class EndpointOutageDrill:
    """Kill the client endpoint under load, bring it back, drain, replay, verify."""

    name = "endpoint-outage"
    description = "client endpoint down under load: breaker, backlog/DLQ, replay; 0 lost, 0 twice"
    targets = Targets(rpo=timedelta(0), rto=timedelta(minutes=5))
    delivery_modes = DELIVERY_MODES

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill and fill ``report``."""
        return run_on_rig(ctx, report, "drill-outage", lambda rig: self._exercise(rig, report))

    def _exercise(self, rig: PipelineRig, report: DrillReport) -> None:
        load = steady_load(rig, report, RATE, WARMUP_S, "steady load, events applied")
        with report.step(f"SIGKILL the endpoint for {OUTAGE_S:.0f}s") as st:
            assert rig.endpoint is not None
            fault_at = time.time()
            rig.endpoint.kill()
            # Batched mode too: the breaker counts failed POSTs, and a batch is one POST
            # (pipeline/batched.py `_send`), so 3 refused batches open it as 3 events do.
            opened = rig.wait_quietly(lambda: rig.breaker() == "open", OUTAGE_S + 30)
            not_ready = rig.ready()[0] == 503
            time.sleep(max(0.0, fault_at + OUTAGE_S - time.time()))
            st.detail = f"breaker open: {opened}, worker not ready: {not_ready}"
        with report.step("endpoint back, backlog drains") as st:
            back_at = time.time()
            rig.endpoint.start()
            time.sleep(3)
            committed = set(load.stop())
            rig.wait_quietly(lambda: rig.ready()[0] == 200, 60)
            rig.wait_quietly(
                lambda: (
                    len(committed - set(rig.applied())) == 0 or self._only_dlq_left(rig, committed)
                ),
                DRAIN_TIMEOUT_S,
            )
            st.detail = f"{len(committed - set(rig.applied()))} not yet applied"
        with report.step("replay the DLQ (`streamdr dlq replay`)") as st:
            replay = self._replay(rig)
            st.ok = replay.get("ok", False)
            st.detail = f"{replay.get('replayed', 0)} replayed, {replay.get('failed', 0)} failed"
        done, restored_at, verdict = verify_exactly_once(
            rig,
            report,
            "verify at the endpoint: every committed change applied once",
            lambda: committed,
            120,
        )
        rto = restored_at - back_at if done else None
        checks = exactly_once_checks(report, verdict, rto, self.targets)
        report.figures.update(
            {
                **verdict,
                "outage_seconds": round(back_at - fault_at, 3),
                "breaker_opened": opened,
                "worker_not_ready_during_outage": not_ready,
                "dead_lettered": replay.get("replayed", 0) + replay.get("failed", 0),
                "load_write_failures": load.failures,
            }
        )
        report.judge(
            {
                "breaker opened during the outage": opened,
                **checks,
            }
        )

    def _only_dlq_left(self, rig: PipelineRig, committed: set[int]) -> bool:
        # The backlog has drained when nothing new arrives for a few seconds.
        before = len(rig.applied())
        time.sleep(3)
        return len(rig.applied()) == before

    def _replay(self, rig: PipelineRig) -> dict:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamdr",
                "--config",
                str(rig.config),
                "dlq",
                "replay",
                rig.workflow_name,
                "--execute",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, **rig.env},
        )
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            return {"ok": False, "failed": [done.stderr.strip()[-300:]]}
