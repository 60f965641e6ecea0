"""Executing a failover or failback plan, one recorded step at a time, resumable.

``prepare()`` gathers the live facts and returns the pure plan (or raises the refusal);
``execute()`` runs it, recording each step with timestamps in the metadata DB. A hard step that
fails stops the run: the error names the steps that ran and how to resume or revert them.
"""

from __future__ import annotations

from typing import Any

from streamdr.errors import StateError, StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.replication.failover import runs
from streamdr.replication.failover.active_site import active_site
from streamdr.replication.failover.context import RunState, SwitchContext
from streamdr.replication.failover.plan import (
    GroupFacts,
    SwitchFacts,
    SwitchKind,
    SwitchPlan,
    SwitchRequest,
    plan_switch,
)
from streamdr.replication.failover.runs import StepRecord
from streamdr.replication.failover.steps import SOFT_STEPS, STEPS, rpo_from_samples
from streamdr.replication.failover.workload import NoWorkload
from streamdr.replication.mm2.internal_topics import describe_group, read_checkpoints
from streamdr.replication.mm2.offset_translation import last_checkpoints
from streamdr.replication.topology import Topology, topology_for
from streamdr.steps import describe_error, record_step


def current_topology(ctx: SwitchContext, scope: str, fallback_sets: list[Any]) -> Topology:
    """Return the topology MM2 runs with, else one built from ``fallback_sets``."""
    running = ctx.runner.topology()
    if running is not None:
        return running
    return topology_for(ctx.settings, fallback_sets, active_site(ctx.store, ctx.settings, scope))


def _reachable(ctx: SwitchContext, site: str) -> bool:
    try:
        KafkaAdmin(site, ctx.settings.sites[site], timeout=2.0).metadata(timeout=2.0)
    except StreamdrError:
        return False
    return True


def gather_facts(ctx: SwitchContext, request: SwitchRequest, before: Topology) -> SwitchFacts:
    """Return the live facts a plan needs (reachability, MM2, groups, checkpoints)."""
    active = active_site(ctx.store, ctx.settings, request.scope)
    target = request.target if request.target in ctx.settings.sites else None
    src_ok = _reachable(ctx, active)
    dst_ok = target is not None and _reachable(ctx, target)
    groups: list[GroupFacts] = []
    flow = before.flow(active, target) if target else None
    if dst_ok and target and flow is not None:
        groups = _group_facts(ctx, before, active, target, flow.groups, src_ok)
    return SwitchFacts(
        active,
        src_ok,
        dst_ok,
        ctx.runner.status().supervisor_running,
        tuple(groups),
        "none" if isinstance(ctx.workload, NoWorkload) else type(ctx.workload).__name__,
    )


def _group_facts(
    ctx: SwitchContext,
    before: Topology,
    source: str,
    target: str,
    groups: tuple[str, ...],
    source_ok: bool,
) -> list[GroupFacts]:
    names = before.names
    dst = KafkaAdmin(target, ctx.settings.sites[target])
    cps = read_checkpoints(target, ctx.settings.sites[target], names.checkpoints_topic(source))
    src = KafkaAdmin(source, ctx.settings.sites[source]) if source_ok else None
    out = []
    for group in groups:
        owner = before.set_of_group(group)
        if owner is None:
            continue
        committed = len(describe_group(src, group).offsets) if src else None
        out.append(
            GroupFacts(
                group,
                owner.name,
                owner.tier,
                describe_group(dst, group).members,
                len(last_checkpoints(cps.records, group)),
                committed,
            )
        )
    return out


def prepare(ctx: SwitchContext, request: SwitchRequest, fallback_sets: list[Any]) -> SwitchPlan:
    """Return the plan for ``request``; raises the refusal when it must not run."""
    unfinished = runs.unfinished_run(ctx.store, request.scope)
    if unfinished is not None:
        raise StateError(
            f"{unfinished['kind']} run {unfinished['id']} ({unfinished['from_site']} → "
            f"{unfinished['to_site']}) is {unfinished['status']} and was not resolved",
            hint=f"Resume it (`streamdr {unfinished['kind']} --resume {unfinished['id']}`) or "
            f"abandon it (`streamdr {unfinished['kind']} --abandon {unfinished['id']}`).",
        )
    before = current_topology(ctx, request.scope, fallback_sets)
    return plan_switch(request, gather_facts(ctx, request, before), before)


def execute(ctx: SwitchContext, plan: SwitchPlan, run_id: int | None = None) -> dict[str, Any]:
    """Run ``plan`` (or resume run ``run_id``); return the result document.

    Raises StreamdrError (of the failing step's kind) naming the steps done and how to resume.
    """
    done: dict[str, StepRecord] = {}
    if run_id is None:
        run_id = runs.create_run(ctx.store, plan.as_dict())
    else:
        _, previous = runs.load_run(ctx.store, run_id)
        done = {s.name: s for s in previous if s.status == runs.DONE}
        runs.set_run_status(ctx.store, run_id, runs.RUNNING)
    ctx.run_id = run_id
    st = RunState()
    records = list(done.values())
    soft_failed = False
    for seq, step in enumerate(plan.steps, start=1):
        if step.name in done:
            continue
        if step.name == "validate" and not plan.request.planned:
            rpo_from_samples(ctx, plan, st)
        try:
            _run_step(ctx, plan, st, records, run_id, seq, step.name)
        except StreamdrError as exc:
            if step.name in SOFT_STEPS:
                soft_failed = True
                continue
            result = _result(ctx, plan, st, records, passed=False)
            runs.finish_run(ctx.store, run_id, runs.FAILED, result)
            raise _stopped(plan, run_id, step.name, records, exc) from exc
        except Exception:
            # A bug must not leave the run "running": end it failed, then let the bug show.
            runs.finish_run(
                ctx.store, run_id, runs.FAILED, _result(ctx, plan, st, records, passed=False)
            )
            raise
    result = _result(ctx, plan, st, records, passed=not soft_failed)
    runs.finish_run(ctx.store, run_id, runs.SUCCEEDED, result)
    return result


def _run_step(
    ctx: SwitchContext,
    plan: SwitchPlan,
    st: RunState,
    records: list[StepRecord],
    run_id: int,
    seq: int,
    name: str,
) -> None:
    """Run step ``name``, recorded in the metadata DB; raises what the step raises."""

    def finished(rec: StepRecord) -> None:
        runs.finish_step(ctx.store, rec)
        _report(ctx, rec)

    with record_step(
        records,
        name,
        finished,
        start=lambda n: runs.start_step(ctx.store, run_id, seq, n),
        describe=_message,
    ) as rec:
        rec.detail = STEPS[name](ctx, plan, st)


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, StreamdrError) else describe_error(exc)


def _report(ctx: SwitchContext, rec: StepRecord) -> None:
    if ctx.on_step is not None:
        ctx.on_step(rec)


def _stopped(
    plan: SwitchPlan, run_id: int, failed: str, records: list[StepRecord], exc: StreamdrError
) -> StreamdrError:
    ran = [r.name for r in records if r.status == runs.DONE]
    reverts = [s.revert for s in reversed(plan.steps) if s.name in ran]
    kind = str(plan.request.kind)
    message = (
        f"{kind} run {run_id} stopped at step '{failed}': {exc.message}. "
        f"Steps done: {', '.join(ran) or 'none'}."
    )
    hint = f"Fix the cause, then `streamdr {kind} --resume {run_id}`" + (
        f"; to revert instead: {' then '.join(reverts)}." if reverts else "."
    )
    return type(exc)(message, hint=hint)


def _result(
    ctx: SwitchContext,
    plan: SwitchPlan,
    st: RunState,
    records: list[StepRecord],
    *,
    passed: bool,
) -> dict[str, Any]:
    began = ctx.fault_at or st.started_at
    rto = None if st.restored_at is None else round(st.restored_at - began, 3)
    return {
        "run_id": ctx.run_id,
        "kind": str(plan.request.kind),
        "scope": plan.request.scope,
        "from": plan.source,
        "to": plan.target,
        "planned": plan.request.planned,
        "passed": passed,
        "rto_seconds": rto,
        "rpo_seconds_estimate": st.rpo_seconds,
        "messages_not_replicated_estimate": st.messages_not_replicated,
        "lag_sample_age_seconds": st.lag_sample_age_seconds,
        "offsets": [t.as_dict() for t in st.translations],
        "validation": st.validation,
        "warnings": list(plan.warnings),
        "steps": [r.as_dict() for r in sorted(records, key=lambda r: (r.seq, r.id))],
    }


def resume(ctx: SwitchContext, run_id: int) -> dict[str, Any]:
    """Resume a failed run from its first step that is not done."""
    row, _ = runs.load_run(ctx.store, run_id)
    if row["status"] not in (runs.FAILED, runs.RUNNING):
        raise StateError(
            f"run {run_id} is {row['status']}; only a failed run can be resumed",
            hint="`streamdr failover --history` lists runs.",
        )
    return execute(ctx, SwitchPlan.from_dict(row["plan"]), run_id)


def abandon(ctx: SwitchContext, run_id: int) -> dict[str, Any]:
    """Mark a failed run abandoned (after reverting it by hand); return the run row."""
    row, steps = runs.load_run(ctx.store, run_id)
    runs.set_run_status(ctx.store, run_id, runs.ABANDONED)
    return {
        "run_id": run_id,
        "status": runs.ABANDONED,
        "steps": [s.as_dict() for s in steps],
        "kind": row["kind"],
    }


__all__ = [
    "SwitchKind",
    "SwitchRequest",
    "abandon",
    "execute",
    "prepare",
    "resume",
]
