"""Drills ``site-failover`` (active-passive) and ``site-failover-active-active`` (critical tier).

The drills run the real pipeline (:mod:`streamdr.drills.site_pipeline`): PostgreSQL with a
steady stream of committed rows, ``streamdr cdc run`` into the site's change topic, ``streamdr
run`` workers delivering signed events to the reference endpoint, MirrorMaker 2 (the drill's
own instance). The drill kills every broker of the site under test (``lab kill-site``), runs the
real unplanned failover (the executor of ``streamdr failover``, with its own active-site scope
so the platform's active site is never flipped) which moves workers and CDC to the surviving
site, keeps delivering from there, then restarts the killed site and runs the real failback.
Measured at the endpoint, which records the site that delivered each event:

- RTO: kill → first event applied at the endpoint through the surviving site (for
  active-active: the first event of the killed site's source database);
- RPO: rows committed before the kill but not applied once the survivor drained what was
  replicated (acknowledged by the killed site, never copied) — count and span of traffic — and,
  after failback, rows never applied at all (must be 0);
- ``duplicates_applied`` (a row applied under two keys; must be 0) and ``redeliveries`` (sent
  again and ignored by the endpoint's idempotency check);
- replication loops: no topic carrying its own site's prefix, record counts stable at rest.

The killed site is always restarted and its partitions back in full ISR before the drill returns.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from streamdr.clock import now_ms
from streamdr.drills import site_helpers as helpers
from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import DELIVERY_MODES
from streamdr.drills.pipeline_rig import PipelineRig, RigSource
from streamdr.drills.report import DrillReport
from streamdr.drills.site_helpers import DrillEnv
from streamdr.drills.site_pipeline import SitePipeline
from streamdr.errors import StateError, StreamdrError
from streamdr.lab.cluster import Lab
from streamdr.pipeline.topics import TopicWant, ensure_topics
from streamdr.policy.tiers import DRILL_TARGETS, Targets, Tier
from streamdr.replication.failover.active_site import forget_scope, record_active_site
from streamdr.replication.failover.context import SwitchContext
from streamdr.replication.failover.execute import execute, prepare
from streamdr.replication.failover.plan import SwitchKind, SwitchRequest
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.service import wait_ready
from streamdr.replication.topology import Topology, explicit_set, plan_topology, subscriptions

PARTITIONS = 3
RATE_PER_S = 50.0  # committed rows per second, all sources together
WARMUP_S = 6.0
RTO_TIMEOUT_S = 90.0
LOST_GRACE_S = 20.0  # at most, after the survivor drained the copy: CDC's re-read lands
DRAIN_TIMEOUT_S = 120.0
LAB_UP_TIMEOUT_S = 300.0
LAB_TARGETS = Targets(rpo=timedelta(seconds=10), rto=timedelta(seconds=60))


class SiteFailoverDrill:
    """Kill a whole site under load; fail over with translated offsets; fail back."""

    name = "site-failover"
    description = "kill the active site under load, fail over to dr, then fail back; no loss"
    targets = DRILL_TARGETS["site-failover"]
    delivery_modes = DELIVERY_MODES
    tier = Tier.STANDARD

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill against ``ctx.site`` (the site that is killed)."""
        lab = helpers.lab_of(ctx)
        env = self._setup(ctx, report)
        try:
            self._scenario(ctx, report, lab, env)
        finally:
            self._cleanup(ctx, report, lab, env)
        return report

    # ----- set-up -------------------------------------------------------------------------
    def _source_sites(self, victim: str, survivor: str) -> tuple[str, ...]:
        """Return the home sites of the drill's source databases (active-passive: one)."""
        return (victim,)

    def _setup(self, ctx: DrillContext, report: DrillReport) -> DrillEnv:
        """Create the drill topic, start the drill's MM2, then build the rig while MM2 starts.

        MM2's JVMs take the longest to come up, and nothing of the rig (database, sandbox,
        artifacts, endpoint) is needed by them, so the two overlap; the scenario waits for MM2.
        Raises StateError when a site is not whole; stops what it started when a step fails.
        """
        victim = ctx.site
        survivor = next(s for s in ctx.settings.sites if s != victim)
        rig = PipelineRig(ctx, self.name, tier=str(self.tier))
        topology = self._topology(ctx, rig, victim)
        runner = Mm2Runner(ctx.settings, f"drill-{rig.id}")
        since = now_ms()
        try:
            with report.step("preflight: both sites healthy; drill topic; start MM2") as st:
                for site in (victim, survivor):
                    if len(helpers.site_admin(ctx, site).metadata().brokers) < 3:
                        raise StateError(
                            f"site {site!r} has fewer than 3 brokers up",
                            hint="Run `streamdr lab up`, then drill again.",
                        )
                for site in (victim, survivor):
                    ensure_topics(helpers.site_admin(ctx, site), [TopicWant(rig.topic, PARTITIONS)])
                since = now_ms()
                runner.apply(topology)
                st.detail = f"topic {rig.topic}; MM2 instance drill-{rig.id} starting"
            with report.step("database, workflow, endpoint (while MM2 starts)") as st:
                rig.setup(sites=self._source_sites(victim, survivor))
                st.detail = f"workflow {rig.workflow_name} ({self.tier})"
        except BaseException:
            self._undo_setup(ctx, report, rig, runner)
            raise
        scope = f"drill:{self.name}:{rig.id}"
        record_active_site(ctx.store, scope, victim)
        workload = SitePipeline(rig, topology.names)
        return DrillEnv(
            victim,
            survivor,
            rig.topic,
            rig.workflow_name,
            scope,
            runner,
            rig,
            workload,
            topology,
            since,
        )

    def _topology(self, ctx: DrillContext, rig: PipelineRig, victim: str) -> Topology:
        """Return the drill's own topology: the victim is home and active; lab emit intervals."""
        sets = [explicit_set([rig.topic], [rig.workflow_name], self.tier)]
        return plan_topology(
            sets,
            list(ctx.settings.sites),
            home=victim,
            active=victim,
            separator=ctx.settings.replication.separator,
            emit_interval=lambda _rpo: 1.0,
        )

    @staticmethod
    def _undo_setup(
        ctx: DrillContext, report: DrillReport, rig: PipelineRig, runner: Mm2Runner
    ) -> None:
        """Stop the MM2 instance, delete the run's topics and close the rig (logs kept)."""
        try:
            runner.stop()
            for site in ctx.settings.sites:
                with contextlib.suppress(StreamdrError):
                    admin = helpers.site_admin(ctx, site)
                    admin.delete_topics([t for t in admin.metadata().topics if rig.id in t])
        finally:
            rig.close_for(report)  # the failed step keeps the logs

    # ----- the scenario -------------------------------------------------------------------
    def _scenario(self, ctx: DrillContext, report: DrillReport, lab: Lab, env: DrillEnv) -> None:
        with report.step("wait for MirrorMaker 2 (the drill's own instance)") as st:
            waited = wait_ready(ctx.settings, env.runner, env.topology, env.mm2_since_ms)
            st.detail = f"ready after {waited}s more"
        self._start_pipeline(ctx, report, env)
        with report.step(f"kill every broker of {env.victim}") as st:
            fault_at = time.time()
            st.detail = f"{lab.kill_site(env.victim)} brokers killed"
        try:
            result = self._failover(ctx, report, env, fault_at)
            rto = self._wait_rto(report, env, fault_at)
            lost_at_failover = self._measure_rpo(ctx, report, env, fault_at)
        finally:
            with report.step(f"restart {env.victim}; wait for full ISR") as st:
                started = time.monotonic()
                lab.up(timeout=LAB_UP_TIMEOUT_S)
                up_s = time.monotonic() - started
                # MM2's JVM writing into the victim exited with it and waits out a restart
                # backoff; starting it now overlaps its start-up with the waits below instead
                # of leaving it all to the failback's ensure-replication step.
                env.runner.kick()
                helpers.wait_isr(ctx, env.victim)
                isr_s = time.monotonic() - started - up_s
                # The group's member from before the kill expires after its session timeout.
                env.rig.wait(
                    lambda: helpers.group_empty(ctx, env.victim, env.group), 90, "stale member"
                )
                member_s = time.monotonic() - started - up_s - isr_s
                st.detail = (
                    f"brokers up {up_s:.1f}s, full ISR {isr_s:.1f}s more, "
                    f"the stale group member expired {member_s:.1f}s later"
                )
        back = self._failback(ctx, report, env)
        self._drain_and_judge(ctx, report, env, fault_at, rto, lost_at_failover, result, back)

    def _start_pipeline(self, ctx: DrillContext, report: DrillReport, env: DrillEnv) -> None:
        """Start CDC and workers where they serve, then the load; wait for MM2 checkpoints.

        Raises StateError when a worker, the first events or the checkpoints do not come.
        """
        with report.step("start CDC and workers on the serving sites; steady load") as st:
            started = [
                env.workload.start(site, self._serves(ctx, env, site))
                for site in env.topology.sites
            ]
            for site in env.topology.sites:
                key = env.workload.worker_key(site)
                if env.rig.running(key):
                    env.rig.wait(lambda k=key: env.rig.ready(k)[0] == 200, 90, f"the {key}")
            for src in env.rig.sources:
                env.rig.start_load(RATE_PER_S / len(env.rig.sources), src)
            warm = env.rig.warm_up(WARMUP_S)
            env.rig.wait(
                lambda: helpers.checkpointed(ctx, env), 60, "MM2 checkpoints of the drill group"
            )
            st.detail = f"{'; '.join(started)}; {warm} applied in warm-up"

    @staticmethod
    def _serves(ctx: DrillContext, env: DrillEnv, site: str) -> dict[str, list[str]]:
        """Return group → topics present on ``site`` that it serves before the fault."""
        return helpers.present(ctx, site, subscriptions(env.topology, site))

    def _context(self, ctx: DrillContext, env: DrillEnv, fault_at: float | None) -> SwitchContext:
        return SwitchContext(
            ctx.settings,
            ctx.store,
            env.runner,
            env.workload,
            switch_hook=lambda site, old: f"drill scope: {old} → {site} (no platform hook)",
            notify=lambda doc: "drill: clients not notified",
            fault_at=fault_at,
            # MM2 start + catch-up in the failback: the product default (300 s); 180 s was
            # exceeded on a loaded host where one MM2 JVM took over 3 minutes to start.
            catch_up_timeout=300.0,
        )

    def _failover(
        self, ctx: DrillContext, report: DrillReport, env: DrillEnv, fault_at: float
    ) -> dict[str, Any]:
        with report.step(f"unplanned failover to {env.survivor} (streamdr failover)") as st:
            sctx = self._context(ctx, env, fault_at)
            request = SwitchRequest(SwitchKind.FAILOVER, env.survivor, False, env.scope)
            result = execute(sctx, prepare(sctx, request, []))
            st.ok = bool(result["passed"])
            st.detail = helpers.steps_line(result)
        return result

    def _rto_source(self, env: DrillEnv) -> RigSource | None:
        """Return whose events count for RTO (None: any event through the survivor)."""
        return None

    def _first_through_survivor(self, env: DrillEnv, fault_at: float) -> float | None:
        origin = self._rto_source(env)
        times = [
            at
            for no, site, at in env.rig.applications()
            if site == env.survivor and at > fault_at and (origin is None or origin.owns(no))
        ]
        return min(times, default=None)

    def _wait_rto(self, report: DrillReport, env: DrillEnv, fault_at: float) -> float | None:
        with report.step(f"wait for the first event applied through {env.survivor}") as st:
            env.rig.wait_quietly(
                lambda: self._first_through_survivor(env, fault_at) is not None,
                RTO_TIMEOUT_S,
                interval=0.25,
            )
            first = self._first_through_survivor(env, fault_at)
            rto = None if first is None else round(first - fault_at, 3)
            st.ok, st.detail = rto is not None, f"RTO {rto}s"
        return rto

    def _measure_rpo(
        self, ctx: DrillContext, report: DrillReport, env: DrillEnv, fault_at: float
    ) -> dict[int, float]:
        """Deliver through the survivor until it drained the copy; return rows still missing."""
        with report.step(f"deliver through {env.survivor}; drain the replicated backlog") as st:
            # Taken after the kill: every row committed before it lies below these positions.
            marks = helpers.wal_marks(env)
            drained = env.rig.wait_quietly(
                lambda: helpers.survivor_drained(ctx, env), RTO_TIMEOUT_S, interval=0.25
            )
            settled = self._wait_settled(ctx, env, marks, fault_at) if drained else ""
            lost = self._missing(env, fault_at)
            st.ok = drained
            st.detail = (
                f"{len(lost)} rows committed before the kill are not applied (acknowledged by "
                f"{env.victim}, not replicated); {settled}"
                if drained
                else f"the {env.survivor} workers did not drain the replicated copy"
            )
        return lost

    def _wait_settled(
        self, ctx: DrillContext, env: DrillEnv, marks: dict[str, str | None], fault_at: float
    ) -> str:
        """Wait until rows committed before the kill can no longer arrive; say how it ended.

        Rows committed before the kill but never acknowledged by the victim come back through
        CDC's re-read of the slot on the survivor. CDC advances a slot only after Kafka
        acknowledged the rows, so once every slot is past ``marks`` they are in the survivor's
        topics; once the survivor's group committed those topics' ends then (commit after
        durable), they are applied. What is still missing was acknowledged by the victim and
        never replicated. Gives up after LOST_GRACE_S (the judgement then uses what arrived).
        """
        start = time.monotonic()

        def left() -> float:
            return max(0.0, LOST_GRACE_S - (time.monotonic() - start))

        def done(cond: object) -> bool:
            return not self._missing(env, fault_at) or bool(cond)

        wait = env.rig.wait_quietly
        if not wait(lambda: done(helpers.cdc_passed(env, marks)), left(), interval=0.25):
            return f"CDC did not pass the kill within {LOST_GRACE_S:.0f}s"
        ends = helpers.survivor_ends(ctx, env) if self._missing(env, fault_at) else {}
        # Without the survivor's ends (it did not answer), wait for the rows themselves.
        reached = (
            (lambda: False) if ends is None else lambda: helpers.survivor_reached(ctx, env, ends)
        )
        if not wait(lambda: done(reached()), left(), interval=0.25):
            return f"the survivor did not apply its topics within {LOST_GRACE_S:.0f}s"
        return f"settled after {time.monotonic() - start:.1f}s"

    @staticmethod
    def _missing(env: DrillEnv, before: float) -> dict[int, float]:
        applied = set(env.rig.applied())
        return {
            no: at for no, at in env.rig.committed().items() if at < before and no not in applied
        }

    def _failback(self, ctx: DrillContext, report: DrillReport, env: DrillEnv) -> dict[str, Any]:
        with report.step(f"failback to {env.victim} (streamdr failback)") as st:
            sctx = self._context(ctx, env, None)
            request = SwitchRequest(SwitchKind.FAILBACK, env.victim, True, env.scope)
            result = execute(sctx, prepare(sctx, request, []))
            st.ok, st.detail = bool(result["passed"]), helpers.steps_line(result)
        return result

    def _drain_and_judge(
        self,
        ctx: DrillContext,
        report: DrillReport,
        env: DrillEnv,
        fault_at: float,
        rto: float | None,
        lost_at_failover: dict[int, float],
        failover: dict[str, Any],
        failback: dict[str, Any],
    ) -> None:
        with report.step("steady after failback, stop the load, drain") as st:
            time.sleep(3.0)
            for load in env.rig.loads:
                load.stop()
            committed = set(env.rig.committed())
            env.rig.wait_all_applied(committed, DRAIN_TIMEOUT_S)
            verdict = env.rig.verdict(committed)
            st.detail = (
                f"{verdict['events_committed']} committed, {verdict['events_lost']} never applied"
            )
        with report.step("check for replication loops") as st:
            loops = helpers.loop_check(ctx, env)
            st.ok, st.detail = not loops, "; ".join(loops) or "no loop topics, counts stable"
        # Traffic lost at failover: from the oldest lost row to the fault.
        rpo_s = round(fault_at - min(lost_at_failover.values(), default=fault_at), 3)
        report.rto_seconds, report.rpo_seconds = rto, rpo_s
        report.figures.update(
            {
                "tier": str(self.tier),
                "rpo_events_at_failover": len(lost_at_failover),
                "messages_lost_after_failback": verdict["events_lost"],
                "duplicates_applied": verdict["duplicates_applied"],
                "redeliveries": verdict["redeliveries_ignored"],
                "events_committed": verdict["events_committed"],
                "events_applied": verdict["events_applied"],
                "applied_by_site": self._by_site(env),
                "failover": helpers.summary(failover),
                "failback": helpers.summary(failback),
                "loops": loops,
                "alerts": env.rig.alerts(),
                "lab_targets": LAB_TARGETS.as_dict(),
            }
        )
        self._judge(report, rto, rpo_s, verdict, loops, failover, failback)

    @staticmethod
    def _by_site(env: DrillEnv) -> dict[str, int]:
        return dict(Counter(site or "?" for _no, site, _at in env.rig.applications()))

    def _judge(
        self,
        report: DrillReport,
        rto: float | None,
        rpo_s: float,
        verdict: dict[str, Any],
        loops: list[str],
        failover: dict[str, Any],
        failback: dict[str, Any],
    ) -> None:
        strategy, lab = self.targets, LAB_TARGETS
        report.judge(
            {
                f"RTO < {strategy.rto.total_seconds():.0f}s (strategy)": rto is not None
                and rto < strategy.rto.total_seconds(),
                f"RPO < {strategy.rpo.total_seconds():.0f}s (strategy)": rpo_s
                < strategy.rpo.total_seconds(),
                f"RTO < {lab.rto.total_seconds():.0f}s (lab)": rto is not None
                and rto < lab.rto.total_seconds(),
                f"RPO < {lab.rpo.total_seconds():.0f}s of traffic (lab)": rpo_s
                < lab.rpo.total_seconds(),
                "no event lost after failback": verdict["events_lost"] == 0,
                "duplicates_applied = 0": verdict["duplicates_applied"] == 0,
                "failover passed": bool(failover.get("passed")),
                "failback passed": bool(failback.get("passed")),
                "no replication loop": not loops,
            }
        )

    # ----- clean-up -----------------------------------------------------------------------
    def _cleanup(self, ctx: DrillContext, report: DrillReport, lab: Lab, env: DrillEnv) -> None:
        with report.step("clean up: pipeline, MM2 instance, drill topics") as st:
            try:
                env.rig.stop_all()
                env.runner.stop()
                if not all(n.running for n in lab.status()):
                    lab.up(timeout=LAB_UP_TIMEOUT_S)
                for site in env.topology.sites:
                    # Every topic of the run carries the rig's id: change topics and their
                    # copies, DLQs, the MM2 instance's internal topics.
                    admin = helpers.site_admin(ctx, site)
                    admin.delete_topics([t for t in admin.metadata().topics if env.rig.id in t])
                helpers.wait_isr(ctx, env.victim)
                forget_scope(ctx.store, env.scope)
            finally:
                env.rig.close_for(report)
            st.detail = "pipeline and MM2 stopped, topics deleted, full ISR"


class ActiveActiveFailoverDrill(SiteFailoverDrill):
    """The same drill for a critical workflow: both sites serve and replicate both ways."""

    name = "site-failover-active-active"
    description = "critical tier: both sites serve; kill one, the other takes over its traffic"
    targets = Targets(rpo=timedelta(minutes=1), rto=timedelta(minutes=1))
    tier = Tier.CRITICAL

    def _source_sites(self, victim: str, survivor: str) -> tuple[str, ...]:
        """Return both sites: each serves the clients of its own regional database."""
        return (victim, survivor)

    def _rto_source(self, env: DrillEnv) -> RigSource | None:
        """Return the killed site's database: the survivor served its own all along."""
        return next(s for s in env.rig.sources.values() if s.site == env.victim)


__all__ = ["ActiveActiveFailoverDrill", "SiteFailoverDrill"]
