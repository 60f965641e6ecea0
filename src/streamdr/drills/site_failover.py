"""Drills ``site-failover`` (active-passive) and ``site-failover-active-active`` (critical tier).

With steady traffic delivered once into an idempotent sink, the drill kills every broker of the
site under test (``lab kill-site``), runs the real unplanned failover (the executor of
``streamdr failover``, with its own MM2 instance and its own active-site scope so the platform's
active site is never flipped), keeps delivering through the surviving site, then restarts the
killed site and runs the real failback. Measured:

- RTO: kill → first event applied at the sink through the surviving site (for active-active:
  first event of the killed site's clients);
- RPO: events acknowledged by the killed site but not applied when it comes back (count and the
  span of traffic they cover) — and, after failback, events never applied at all (must be 0);
- ``duplicates_applied`` (must be 0) and ``redeliveries`` (ignored by the idempotency check);
- replication loops: no topic carrying its own site's prefix, record counts stable at rest.

The killed site is always restarted and its partitions back in full ISR before the drill returns.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from streamdr.drills import site_helpers as helpers
from streamdr.drills.context import DrillContext
from streamdr.drills.report import DrillReport
from streamdr.drills.site_traffic import DrillWorkload, EventSink, SiteProducer
from streamdr.errors import StateError
from streamdr.kafka.admin import TopicSpec
from streamdr.lab.cluster import Lab
from streamdr.policy.tiers import DRILL_TARGETS, Targets, Tier
from streamdr.replication.plan import SwitchKind, SwitchRequest
from streamdr.replication.runner import Mm2Runner
from streamdr.replication.service import wait_ready
from streamdr.replication.switch import SwitchContext, execute, prepare
from streamdr.replication.switching import forget_scope, record_active_site
from streamdr.replication.topology import Topology, explicit_set, plan_topology, subscriptions

PARTITIONS = 3
RATE_PER_S = 100.0
WARMUP_S = 6.0
STEADY_S = 5.0
RTO_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 90.0
LAB_UP_TIMEOUT_S = 300.0
LAB_TARGETS = Targets(rpo=timedelta(seconds=10), rto=timedelta(seconds=60))


@dataclass
class _Env:
    """Names and handles of one drill run."""

    victim: str
    survivor: str
    topic: str
    group: str
    scope: str
    runner: Mm2Runner
    sink: EventSink
    workload: DrillWorkload
    topology: Topology


class SiteFailoverDrill:
    """Kill a whole site under load; fail over with translated offsets; fail back."""

    name = "site-failover"
    description = "kill the active site under load, fail over to dr, then fail back; no loss"
    targets = DRILL_TARGETS["site-failover"]
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
    def _setup(self, ctx: DrillContext, report: DrillReport) -> _Env:
        victim = ctx.site
        survivor = next(s for s in ctx.settings.sites if s != victim)
        run = uuid.uuid4().hex[:8]
        topic, group = f"streamdr.drill.sf.{run}", f"streamdr-drill-sf-{run}"
        with report.step("preflight: both sites healthy, create the drill topic on each") as st:
            for site in (victim, survivor):
                admin = helpers.site_admin(ctx, site)
                if len(admin.metadata().brokers) < 3:
                    raise StateError(
                        f"site {site!r} has fewer than 3 brokers up",
                        hint="Run `streamdr lab up`, then drill again.",
                    )
                admin.create_topics([TopicSpec(topic, PARTITIONS, 3, {"min.insync.replicas": "2"})])
            st.detail = f"topic {topic}, group {group}"
        sets = [explicit_set([topic], [group], self.tier)]
        # The drill's own topology: the victim is home and active; lab-speed emit intervals.
        topology = plan_topology(
            sets,
            list(ctx.settings.sites),
            home=victim,
            active=victim,
            separator=ctx.settings.replication.separator,
            emit_interval=lambda _rpo: 1.0,
        )
        scope = f"drill:{self.name}:{run}"
        record_active_site(ctx.store, scope, victim)
        sink = EventSink(Path(tempfile.mkdtemp(prefix="streamdr-drill-")) / "sink.db")
        workload = DrillWorkload(ctx.settings, topology.names, topic, sink)
        runner = Mm2Runner(ctx.settings, f"drill-{run}")
        return _Env(victim, survivor, topic, group, scope, runner, sink, workload, topology)

    def _producers(self, ctx: DrillContext, env: _Env) -> list[SiteProducer]:
        return [SiteProducer(ctx.settings, env.topic, env.victim, "clients", RATE_PER_S)]

    # ----- the scenario -------------------------------------------------------------------
    def _scenario(self, ctx: DrillContext, report: DrillReport, lab: Lab, env: _Env) -> None:
        with report.step("start MirrorMaker 2 (the drill's own instance)") as st:
            since = int(time.time() * 1000)
            env.runner.apply(env.topology)
            st.detail = f"ready after {wait_ready(ctx.settings, env.runner, env.topology, since)}s"
        with report.step("start steady traffic and consumers; wait for checkpoints") as st:
            env.workload.producers = self._producers(ctx, env)
            for site in env.topology.sites:
                env.workload.start(
                    site, helpers.present(ctx, site, subscriptions(env.topology, site))
                )
            for p in env.workload.producers:
                p.start()
            time.sleep(WARMUP_S)
            helpers.wait_for(
                lambda: helpers.checkpointed(ctx, env), 60, "MM2 checkpoints of the drill group"
            )
            st.detail = f"{len(env.sink.applied_ids())} events applied during warm-up"
        with report.step(f"kill every broker of {env.victim}") as st:
            fault_at = time.time()
            st.detail = f"{lab.kill_site(env.victim)} brokers killed"
        try:
            result = self._failover(ctx, report, env, fault_at)
            rto = self._wait_rto(report, env, fault_at)
            lost_at_failover = self._measure_rpo(ctx, report, env)
        finally:
            with report.step(f"restart {env.victim}; wait for full ISR") as st:
                lab.up(timeout=LAB_UP_TIMEOUT_S)
                helpers.wait_isr(ctx, env.victim)
                # The group's member from before the kill expires after its session timeout.
                helpers.wait_for(
                    lambda: helpers.group_empty(ctx, env.victim, env.group), 90, "stale member"
                )
                st.detail = "all partitions in full ISR; the stale group member expired"
        back = self._failback(ctx, report, env)
        self._drain_and_judge(ctx, report, env, fault_at, rto, lost_at_failover, result, back)

    def _context(self, ctx: DrillContext, env: _Env, fault_at: float | None) -> SwitchContext:
        return SwitchContext(
            ctx.settings,
            ctx.store,
            env.runner,
            env.workload,
            switch_hook=lambda site, old: f"drill scope: {old} → {site} (no platform hook)",
            notify=lambda doc: "drill: clients not notified",
            fault_at=fault_at,
            catch_up_timeout=180.0,
        )

    def _failover(
        self, ctx: DrillContext, report: DrillReport, env: _Env, fault_at: float
    ) -> dict[str, Any]:
        with report.step(f"unplanned failover to {env.survivor} (streamdr failover)") as st:
            sctx = self._context(ctx, env, fault_at)
            request = SwitchRequest(SwitchKind.FAILOVER, env.survivor, False, env.scope)
            result = execute(sctx, prepare(sctx, request, []))
            st.ok = bool(result["passed"])
            st.detail = helpers.steps_line(result)
        return result

    def _wait_rto(self, report: DrillReport, env: _Env, fault_at: float) -> float | None:
        origin = self._rto_origin(env)
        with report.step(f"wait for the first event applied through {env.survivor}") as st:
            helpers.wait_for(
                lambda: env.sink.first_applied_after(fault_at, env.survivor, origin) is not None,
                RTO_TIMEOUT_S,
                None,
            )
            first = env.sink.first_applied_after(fault_at, env.survivor, origin)
            rto = None if first is None else round(first - fault_at, 3)
            st.ok, st.detail = rto is not None, f"RTO {rto}s"
        return rto

    def _measure_rpo(self, ctx: DrillContext, report: DrillReport, env: _Env) -> list[Any]:
        """Keep delivering through the survivor until it has applied everything it received."""
        with report.step(f"deliver through {env.survivor}; drain the replicated backlog") as st:
            time.sleep(STEADY_S)
            drained = helpers.wait_for(
                lambda: helpers.survivor_drained(ctx, env), RTO_TIMEOUT_S, None
            )
            lost = self._lost(env)
            st.ok = drained
            st.detail = (
                f"{len(lost)} events acknowledged by {env.victim} were not replicated"
                if drained
                else f"the {env.survivor} consumer did not drain its backlog"
            )
        return lost

    def _rto_origin(self, env: _Env) -> str | None:
        """Return whose events count for RTO (None: any event through the survivor)."""
        return None

    def _lost(self, env: _Env) -> list[Any]:
        applied = env.sink.applied_ids()
        return [
            e
            for p in env.workload.producers
            for e in p.events()
            if e.acked_at is not None and e.site == env.victim and e.event_id not in applied
        ]

    def _failback(self, ctx: DrillContext, report: DrillReport, env: _Env) -> dict[str, Any]:
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
        env: _Env,
        fault_at: float,
        rto: float | None,
        lost_at_failover: list[Any],
        failover: dict[str, Any],
        failback: dict[str, Any],
    ) -> None:
        with report.step("steady after failback, stop producing, drain") as st:
            time.sleep(3.0)
            for p in env.workload.producers:
                p.stop()
            acked = {e.event_id for p in env.workload.producers for e in p.events() if e.acked_at}
            helpers.wait_for(lambda: acked <= env.sink.applied_ids(), DRAIN_TIMEOUT_S, None)
            never = sorted(acked - env.sink.applied_ids())
            st.detail = f"{len(acked)} acknowledged, {len(never)} never applied"
        with report.step("check for replication loops") as st:
            loops = helpers.loop_check(ctx, env)
            st.ok, st.detail = not loops, "; ".join(loops) or "no loop topics, counts stable"
        # Traffic lost at failover: from the oldest lost event to the fault.
        rpo_s = round(fault_at - min((e.sent_at for e in lost_at_failover), default=fault_at), 3)
        report.rto_seconds, report.rpo_seconds = rto, rpo_s
        report.figures.update(
            {
                "tier": str(self.tier),
                "rpo_events_at_failover": len(lost_at_failover),
                "messages_lost_after_failback": len(never),
                "duplicates_applied": env.sink.duplicates_applied(),
                "redeliveries": env.sink.redeliveries(),
                "acked": len(acked),
                "applied": len(env.sink.applied_ids()),
                "failover": helpers.summary(failover),
                "failback": helpers.summary(failback),
                "loops": loops,
                "lab_targets": LAB_TARGETS.as_dict(),
            }
        )
        self._judge(report, rto, rpo_s, never, loops, failover, failback, env)

    def _judge(
        self,
        report: DrillReport,
        rto: float | None,
        rpo_s: float,
        never: list[str],
        loops: list[str],
        failover: dict[str, Any],
        failback: dict[str, Any],
        env: _Env,
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
                "no event lost after failback": not never,
                "duplicates_applied = 0": env.sink.duplicates_applied() == 0,
                "failover passed": bool(failover.get("passed")),
                "failback passed": bool(failback.get("passed")),
                "no replication loop": not loops,
            }
        )

    # ----- clean-up -----------------------------------------------------------------------
    def _cleanup(self, ctx: DrillContext, report: DrillReport, lab: Lab, env: _Env) -> None:
        with report.step("clean up: workload, MM2 instance, drill topics") as st:
            env.workload.shutdown()
            env.runner.stop()
            if not all(n.running for n in lab.status()):
                lab.up(timeout=LAB_UP_TIMEOUT_S)
            names = env.topology.names
            for site in env.topology.sites:
                others = [o for o in env.topology.sites if o != site]
                doomed = [env.topic] + [names.remote_topic(o, env.topic) for o in others]
                inst = env.runner.instance
                doomed += [
                    f"mm2-{k}.{inst}.{site}.internal" for k in ("offsets", "configs", "status")
                ]
                admin = helpers.site_admin(ctx, site)
                existing = admin.metadata().topics
                admin.delete_topics([t for t in doomed if t in existing])
            helpers.wait_isr(ctx, env.victim)
            forget_scope(ctx.store, env.scope)
            env.sink.close()
            st.detail = "MM2 stopped, topics deleted, full ISR"


class ActiveActiveFailoverDrill(SiteFailoverDrill):
    """The same drill for a critical workflow: both sites serve and replicate both ways."""

    name = "site-failover-active-active"
    description = "critical tier: both sites serve; kill one, the other takes over its traffic"
    targets = Targets(rpo=timedelta(minutes=1), rto=timedelta(minutes=1))
    tier = Tier.CRITICAL

    def _producers(self, ctx: DrillContext, env: _Env) -> list[SiteProducer]:
        return [
            SiteProducer(
                ctx.settings, env.topic, env.victim, "clients-" + env.victim, RATE_PER_S / 2
            ),
            SiteProducer(
                ctx.settings, env.topic, env.survivor, "clients-" + env.survivor, RATE_PER_S / 2
            ),
        ]

    def _rto_origin(self, env: _Env) -> str | None:
        """Return the killed site's clients: the survivor served its own all along."""
        return "clients-" + env.victim


__all__ = ["ActiveActiveFailoverDrill", "SiteFailoverDrill"]
