"""A chaos run: the real pipeline under steady load while seeded faults come and go.

CDC → Kafka → worker → reference endpoint run as in the pipeline drills (``PipelineRig``), with
Kafka reached through the lab's client proxies so network faults hit them. Faults are injected
one at a time from a seeded schedule; each is healed after its hold time and must pass its own
recovery check and see a fresh event applied. At the end the ledger must balance: every event
committed at the source applied exactly once or dead-lettered, none applied twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamdr.chaos import ledger
from streamdr.chaos.catalog import CATALOG, PlannedFault, plan_faults, usable_kinds
from streamdr.chaos.faults import INJECT, ChaosEnv, recovered
from streamdr.chaos.replication import ChaosMm2, chaos_mm2
from streamdr.clock import now_ms
from streamdr.drills.context import DrillContext
from streamdr.drills.pipeline_rig import PipelineRig
from streamdr.drills.report import DrillReport
from streamdr.errors import InputError
from streamdr.harness.derived_settings import derive, write_settings
from streamdr.harness.polling import poll_until
from streamdr.lab.cluster import Lab
from streamdr.lab.links import LabLinks
from streamdr.policy.tiers import TIER_TARGETS, Targets, Tier
from streamdr.replication.service import wait_ready

SCENARIO = "chaos"
DRAIN_TIMEOUT_S = 180.0
POLL_S = 0.5


@dataclass(frozen=True)
class ChaosRequest:
    """What to run: seed, duration (s), fault kinds, load rate (events/s) and MM2.

    ``mm2`` None: run MirrorMaker 2 (active site -> the other) when the lab has a second site.
    """

    seed: int
    duration: float
    kinds: tuple[str, ...]
    rate: float = 20.0
    mm2: bool | None = None


def _env(ctx: DrillContext, rig: PipelineRig, want_mm2: bool | None) -> ChaosEnv:
    if not ctx.settings.lab_dir or not ctx.settings.sites[ctx.site].lab:
        raise InputError(
            f"chaos runs need the lab; site {ctx.site!r} is not a lab site",
            hint="Run `streamdr lab up` and use the lab's settings (STREAMDR_CONFIG).",
        )
    lab = Lab(Path(ctx.settings.lab_dir))
    links = LabLinks(lab)
    links.client()  # fail now (an old lab without proxies) rather than mid-run
    peers = [s for s in ctx.settings.sites if s != ctx.site]
    peer = peers[0] if peers else None
    if want_mm2 and peer is None:
        raise InputError(
            "--mm2 needs a second lab site to replicate to",
            hint="Use the two-site lab (`streamdr lab up`), or pass --no-mm2.",
        )
    mm2 = None
    if peer is not None and want_mm2 is not False:
        mm2 = chaos_mm2(ctx.settings, links, ctx.site, peer, rig.topic, rig.id)
    return ChaosEnv(rig, lab, links, ctx.site, peer, mm2)


def _through_edge_proxies(env: ChaosEnv) -> None:
    """Point the rig's child processes at the active site through the client proxies."""
    rig = env.rig
    settings = rig.sandbox.settings
    sites = dict(settings.sites)
    sites[env.site] = sites[env.site].model_copy(update={"bootstrap_servers": env.edge_bootstrap()})
    write_settings(derive(settings, sites=sites), rig.config)


def run_chaos(ctx: DrillContext, report: DrillReport, request: ChaosRequest) -> DrillReport:
    """Run the chaos schedule on a fresh rig and judge the ledger; return ``report``.

    Raises InputError off the lab, StateError when the rig cannot be built.
    """
    rig = PipelineRig(ctx, "chaos")
    env = _env(ctx, rig, request.mm2)
    kinds = usable_kinds(request.kinds, with_mm2=env.mm2 is not None)
    brokers = len(ctx.settings.sites[ctx.site].bootstrap_servers.split(","))
    schedule = plan_faults(request.seed, request.duration, kinds, brokers=brokers)
    report.figures.update(seed=request.seed, duration_s=request.duration, rate=request.rate)
    report.figures["schedule"] = [f.as_dict() for f in schedule]
    report.figures["mm2"] = env.mm2 is not None
    try:
        with report.step("set up the pipeline through the client proxies") as st:
            rig.setup()
            _through_edge_proxies(env)
            since = now_ms()
            if env.mm2 is not None:
                env.mm2.start()  # boots while CDC and the worker start
            rig.start_cdc()
            rig.start_worker()
            st.detail = f"workflow {rig.workflow_name}"
        with report.step(f"steady load at {request.rate:g}/s") as st:
            rig.start_load(request.rate)
            st.detail = f"{rig.warm_up(2.0)} applied"
        if env.mm2 is not None:
            _mm2_ready(ctx, report, env.mm2, since)
        windows = [_one_fault(env, report, fault) for fault in schedule]
        _judge(rig, report, windows, env.mm2)
    finally:
        env.links.heal()
        if env.mm2 is not None:
            env.mm2.stop(forget=report.passed)
        rig.close_for(report)
    return report


def _mm2_ready(ctx: DrillContext, report: DrillReport, mm2: ChaosMm2, since: int) -> None:
    """Wait until MM2 heartbeats and copies the chaos topic; raises StateError on timeout."""
    with report.step(f"MirrorMaker 2 replicates {mm2.source} → {mm2.target}") as st:
        waited = wait_ready(ctx.settings, mm2.runner, mm2.topology, since)
        st.detail = f"ready after {waited:g}s (instance {mm2.runner.instance}, reads over the WAN)"


def _one_fault(env: ChaosEnv, report: DrillReport, fault: PlannedFault) -> ledger.FaultWindow:
    time.sleep(fault.calm_before)
    target = f" (broker {fault.target})" if fault.target is not None else ""
    with report.step(f"fault {fault.index}: {fault.kind}{target} for {fault.hold:g}s") as st:
        injected = time.time()
        heal = INJECT[fault.kind](env, fault)
        time.sleep(fault.hold)
        heal()
        healed = time.time()
        timeout = CATALOG[fault.kind].recovery_timeout
        ok = poll_until(lambda: _recovered_after(env, fault, healed), timeout, POLL_S)
        done = time.time() if ok else None
        st.ok = ok
        st.detail = f"recovered in {done - injected:.1f}s" if done else "did not recover"
    return ledger.FaultWindow(fault.index, fault.kind, injected, healed, done)


def _recovered_after(env: ChaosEnv, fault: PlannedFault, healed: float) -> bool:
    """The fault's own check, then an event committed after the heal reached the endpoint."""
    if not recovered(env, fault):
        return False
    fresh = {n for n, at in env.rig.committed().items() if at > healed}
    return bool(fresh) and bool(fresh & set(_applied_quietly(env.rig)))


def _applied_quietly(rig: PipelineRig) -> list[int]:
    try:
        return rig.applied()
    except Exception:  # the endpoint may be the very fault being healed: not yet
        return []


def _judge(
    rig: PipelineRig,
    report: DrillReport,
    windows: list[ledger.FaultWindow],
    mm2: ChaosMm2 | None,
) -> None:
    with report.step("stop the load and drain") as st:
        for load in rig.loads:
            load.stop()
        committed = rig.committed()
        drained = rig.wait_all_applied(set(committed), DRAIN_TIMEOUT_S)
        st.detail = "every committed event applied" if drained else "not all applied in time"
    checks: dict[str, bool] = {}
    if mm2 is not None:
        checks[f"every record of the chaos topic replicated to {mm2.target}"] = _replicated(
            report, mm2
        )
    book = ledger.balance(committed, rig.applied(), {}, windows)
    per_fault = _per_fault(windows, ledger.problems_by_fault(book))
    report.figures.update(ledger=book, faults=per_fault)
    report.figures["events_lost"] = book["events_lost"]
    report.figures["events_applied_twice"] = book["events_applied_twice"]
    recoveries = [w.recovered_at - w.injected_at for w in windows if w.recovered_at]
    report.rto_seconds = round(max(recoveries), 3) if recoveries else None
    report.rpo_seconds = 0.0 if book["events_lost"] == 0 else None
    report.judge(
        {
            "ledger balances (committed = applied + dead-lettered)": book["balanced"],
            "0 events lost": book["events_lost"] == 0,
            "0 events applied twice": book["events_applied_twice"] == 0,
            "every fault recovered": all(w.recovered_at for w in windows),
            **checks,
        }
    )


def _replicated(report: DrillReport, mm2: ChaosMm2) -> bool:
    """The replication check: the chaos topic's copy on the peer is complete (bounded wait)."""
    with report.step(f"every record of the chaos topic on {mm2.target}") as st:
        figures = mm2.final_check()
        report.figures["replication"] = figures
        st.ok = bool(figures["complete"])
        st.detail = (
            f"complete after {figures['waited_s']}s, {figures['records_on_target']} records, "
            f"{figures['restarts']} MM2 restarts"
            if st.ok
            else "; ".join(figures["gaps"][:3])
        )
    return bool(figures["complete"])


def _per_fault(windows: list[ledger.FaultWindow], problems: dict[Any, int]) -> list[dict[str, Any]]:
    return [
        {
            "index": w.index,
            "kind": w.kind,
            "held_s": round(w.healed_at - w.injected_at, 2),
            "recovery_s": round(w.recovered_at - w.injected_at, 2) if w.recovered_at else None,
            "problem_events": problems.get(w.index, 0),
        }
        for w in windows
    ]


def chaos_targets() -> Targets:
    """Return the chaos run's targets: the critical tier's (each fault recovered within RTO)."""
    return TIER_TARGETS[Tier.CRITICAL]
