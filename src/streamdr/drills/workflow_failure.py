"""Drill ``workflow-failure``: the strategy's Scenario 1 (individual workflow failure), end to end.

A buggy transformation version is deployed under load; the drill detects it (the DLQ grows and
the transformation errors climb), stops the workflow, rolls back to the previous version with
`streamdr rollback --to-version`, rewinds the consumer group to the time of the bad deploy,
restarts the workflow and verifies at the endpoint that every committed change is applied
exactly once — including the ones the bad version dead-lettered. RTO = detection → all applied.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from streamdr.clock import utcnow
from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import DELIVERY_MODES
from streamdr.drills.pipeline_rig import (
    BUGGY,
    GOOD,
    PipelineRig,
    exactly_once_checks,
    run_on_rig,
    steady_load,
    verify_exactly_once,
)
from streamdr.drills.report import DrillReport
from streamdr.kafka.admin import KafkaAdmin
from streamdr.pipeline.dlq import DlqEntry
from streamdr.pipeline.replay import list_dlq
from streamdr.pipeline.runner import source_topics
from streamdr.policy.tiers import DRILL_TARGETS
from streamdr.restore.groups import GroupAdmin
from streamdr.restore.rewind import apply_changes, plan_rewind
from streamdr.workflows.deployments import deployed_workflows
from streamdr.workflows.model import Workflow

RATE = 30.0
WARMUP_S = 4.0
BAD_RUN_S = 6.0
DETECT_TIMEOUT_S = 60.0
VERIFY_TIMEOUT_S = 300.0


class WorkflowFailureDrill:
    """Bad deploy → detect → stop → rollback → rewind → restart → verify exactly once."""

    name = "workflow-failure"
    description = "Scenario 1: buggy transformation, rollback, rewind by time; exactly once"
    targets = DRILL_TARGETS["transformation-rollback"]
    delivery_modes = DELIVERY_MODES

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill and fill ``report``."""
        return run_on_rig(
            ctx,
            report,
            "drill-wf",
            lambda rig: self._exercise(ctx, rig, report),
            versions=(GOOD, BUGGY),
            setup_step="set up: publish 1.0.0 and buggy 1.1.0 (signed), deploy 1.0.0",
        )

    def _exercise(self, ctx: DrillContext, rig: PipelineRig, report: DrillReport) -> None:
        load = steady_load(rig, report, RATE, WARMUP_S, "steady load on the good version")
        with report.step(f"deploy the buggy version {BUGGY} and restart the workflow") as st:
            bad_deploy_at = utcnow()
            rig.deploy(BUGGY, f"pin {BUGGY}")
            rig.stop("worker")
            rig.start_worker(wait_ready=False)
            st.detail = f"deployed at {bad_deploy_at.isoformat()}"
        wf = next(w for w in self._workflows(rig) if w.name == rig.workflow_name)
        with report.step("detect: DLQ grows, transformation errors") as st:
            start = time.monotonic()
            detected = rig.wait_quietly(
                lambda: len(list_dlq(rig.sandbox.settings, wf)[0]) >= 10, DETECT_TIMEOUT_S
            )
            detected_at = time.time()
            dead = list_dlq(rig.sandbox.settings, wf)[0]
            # Both delivery modes transform a batch of records before any POST
            # (handler.prepare_batch) and dead-letter a failed record alone, so in batched
            # mode too every dead letter of the bad version is a transform failure.
            st.ok = detected and all(e.letter.stage == "transform" for e in dead)
            st.detail = (
                f"{len(dead)} dead letters after {time.monotonic() - start:.1f}s, "
                f"e.g. {dead[0].letter.error if dead else '-'}"
            )
            time.sleep(BAD_RUN_S)
        self._recover(ctx, rig, report, wf, bad_deploy_at)
        done, restored_at, verdict = verify_exactly_once(
            rig,
            report,
            "stop load; verify every committed change applied exactly once",
            lambda: set(load.stop()),
            VERIFY_TIMEOUT_S,
        )
        rto = restored_at - detected_at if done and detected else None
        checks = exactly_once_checks(report, verdict, rto, self.targets)
        report.figures.update(
            {**verdict, "dead_lettered_by_bad_version": len(dead), "detected": detected}
        )
        report.judge(
            {
                "bad version detected (DLQ growth)": detected,
                **checks,
            }
        )

    def _workflows(self, rig: PipelineRig) -> list[Workflow]:

        return deployed_workflows(rig.sandbox.settings, rig.sandbox.store)

    def _recover(
        self,
        ctx: DrillContext,
        rig: PipelineRig,
        report: DrillReport,
        wf: Workflow,
        bad_deploy_at: datetime,
    ) -> None:
        with report.step("stop the workflow"):
            rig.stop("worker")
        with report.step(f"roll back to {GOOD} (`streamdr rollback --to-version`)") as st:
            rig.rollback(GOOD)
            pinned = next(w for w in self._workflows(rig) if w.name == rig.workflow_name)
            st.ok = pinned.transformation.version == GOOD
            st.detail = f"deployed version {pinned.transformation.version}"
        with report.step("rewind the consumer group to before the bad deploy") as st:
            settings = rig.sandbox.settings
            site_name, site = settings.site(ctx.site)
            when = rewind_point(bad_deploy_at, list_dlq(settings, wf)[0], f"@{BUGGY}")
            groups = GroupAdmin(KafkaAdmin(site_name, site))
            changes = [  # never forward: the default of plan_rewind, as in the CLI
                c
                for topic in source_topics(pinned, settings)
                for c in plan_rewind(groups, pinned.consumer_group, topic, when)
            ]
            apply_changes(groups, changes)  # `streamdr offsets rewind --execute`
            st.detail = f"to {when.isoformat()}: " + ", ".join(
                f"{c.topic}[{c.partition}] {c.current}->{c.new}" for c in changes
            )
        with report.step("restart the workflow"):
            rig.start_worker()


def rewind_point(deployed_at: datetime, entries: list[DlqEntry], bad_ref_suffix: str) -> datetime:
    """Return the time to rewind to: before the deploy *and* before every record the bad
    version dead-lettered (a backlog at deploy time holds records older than the deploy)."""
    times = [
        datetime.fromtimestamp(e.letter.origin.timestamp_ms / 1000, UTC)
        for e in entries
        if e.letter.transformation.endswith(bad_ref_suffix) and e.letter.origin.timestamp_ms
    ]
    return min([deployed_at, *times]) - timedelta(seconds=1)
