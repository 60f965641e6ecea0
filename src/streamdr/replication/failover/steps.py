"""The steps of a failover/failback, one function each; every one returns a detail line.

A step raises StreamdrError to stop the run. ``validate`` and ``notify`` are soft: they record a
failure but the run continues (the switch has already happened by then).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import stamina

from streamdr.errors import StateError, StreamdrError, UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.policy.tiers import Tier
from streamdr.replication.failover.active_site import (
    notify_clients,
    record_active_site,
    run_switch_hook,
)
from streamdr.replication.failover.context import RunState, SwitchContext
from streamdr.replication.failover.plan import SwitchPlan
from streamdr.replication.failover.stale_mm2 import restart_stale_jvms
from streamdr.replication.failover.validation import validate_switch
from streamdr.replication.failover.workload import wait_fenced
from streamdr.replication.lag.monitor import LagReport, measure_lag
from streamdr.replication.lag.sampler import read_samples
from streamdr.replication.mm2.group_positions import translate_group
from streamdr.replication.mm2.internal_topics import commit_group_offsets, describe_group
from streamdr.replication.topology import Topology, existing_only, subscriptions

NEAR_LIVE_SECONDS = 10.0
# Under live traffic a few records are always in flight; a lag probe that times out on a busy
# machine must not hold the gate, so a small backlog counts as near-live too.
NEAR_LIVE_MESSAGES = 1000
GROUP_EMPTY_TIMEOUT_S = 60.0
SOFT_STEPS = frozenset({"validate", "notify"})
VALIDATE_ATTEMPTS = 3


def _admin(ctx: SwitchContext, site: str, timeout: float = 10.0) -> KafkaAdmin:
    return KafkaAdmin(site, ctx.settings.sites[site], timeout=timeout)


def confirm_source_down(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Refuse when the old site still answers (an unplanned failover would split the brain)."""
    try:
        _admin(ctx, plan.source, 2.0).metadata(timeout=2.0)
    except StreamdrError as exc:
        return f"{plan.source} does not answer: {exc.message[:160]}"
    raise StateError(
        f"{plan.source!r} answers again; refusing an unplanned failover",
        hint=f"Use `streamdr failover --to {plan.target} --planned` to fence it first.",
    )


def _serves_critical(topology: Topology) -> bool:
    return any(s.tier is Tier.CRITICAL for s in topology.sets)


def stop_workers(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Stop the pipeline against the lost site (best effort) and, for critical sets, the target."""
    try:
        done = ctx.workload.stop(plan.source)
    except StreamdrError as exc:
        done = f"could not stop workers against {plan.source} ({exc.message}); it is down"
    if _serves_critical(plan.after):
        done += "; " + ctx.workload.stop(plan.target)
    return done


def fence_source(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Stop the pipeline against the active site (and the target for critical sets); wait."""
    out = [ctx.workload.stop(plan.source)]
    waited = wait_fenced(ctx.workload, plan.source, ctx.fence_timeout)
    if _serves_critical(plan.after):
        out.append(ctx.workload.stop(plan.target))
        waited += wait_fenced(ctx.workload, plan.target, ctx.fence_timeout)
    return "; ".join(out) + f"; fenced after {waited:.1f}s"


def _wait_lag(
    ctx: SwitchContext,
    topology: Topology,
    accept: Callable[[LagReport], bool],
    timeout: float,
    what: str,
) -> LagReport:
    deadline = time.monotonic() + timeout
    while True:
        report = measure_lag(ctx.settings, topology)
        if accept(report):
            return report
        if time.monotonic() > deadline:
            worst = max((p.messages_behind for p in report.partitions), default=0)
            errors = [f.error for f in report.flows if f.error]
            raise StateError(
                f"replication did not reach {what} within {timeout:.0f}s "
                f"(worst {worst} messages behind{'; ' + errors[0] if errors else ''})",
                hint="Check `streamdr replicate status`; resume when the lag is gone.",
            )
        time.sleep(1.0)


def _only(topology: Topology, flows: list[Any]) -> Topology:
    return Topology(
        topology.sites,
        topology.home,
        topology.active,
        topology.separator,
        topology.sets,
        tuple(flows),
    )


def ensure_replication(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Run MM2 for the current topology and wait until every flow is near-live.

    A JVM that started while its target was dead is restarted first (see ``stale_mm2``).
    Raises StateError when MM2 into the target does not run or does not catch up in time.
    """
    step_started = time.time()
    changed = ctx.runner.apply(plan.before)
    # A JVM that crash-looped while its target was down may be waiting out a long backoff.
    ctx.runner.kick()
    # One that started while its target was down may still be running, doomed to exit.
    restarted = restart_stale_jvms(ctx, plan.before, step_started)
    deadline = time.monotonic() + 30.0
    while not ctx.runner.status().target_running(plan.target) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not ctx.runner.status().target_running(plan.target):
        raise StateError(
            f"MirrorMaker 2 writing into {plan.target!r} is not running",
            hint=f"See {ctx.runner.dir / plan.target / 'server.log'}.",
        )

    def near_live(report: LagReport) -> bool:
        return not any(f.error for f in report.flows) and all(
            p.messages_behind <= NEAR_LIVE_MESSAGES
            or (p.seconds_behind is not None and p.seconds_behind <= NEAR_LIVE_SECONDS)
            for p in report.partitions
        )

    report = _wait_lag(ctx, plan.before, near_live, ctx.catch_up_timeout, "near-live lag")
    worst = max((p.messages_behind for p in report.partitions), default=0)
    done = f"MM2 {'reconfigured' if changed else 'running'}; flows near-live ({worst} behind)"
    return f"{restarted}; {done}" if restarted else done


def wait_caught_up(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Wait until every partition replicated into the target has lag 0."""
    into = _only(plan.before, plan.before.flows_into(plan.target))

    def zero(report: LagReport) -> bool:
        return not any(f.error for f in report.flows) and all(
            p.messages_behind == 0 for p in report.partitions
        )

    report = _wait_lag(ctx, into, zero, ctx.catch_up_timeout, "lag 0")
    st.rpo_seconds, st.messages_not_replicated = 0.0, 0
    return f"lag 0 on {len(report.partitions)} partitions"


def _replicated_groups(plan: SwitchPlan) -> list[str]:
    flow = plan.before.flow(plan.source, plan.target)
    if flow is None:
        return []
    return list(flow.groups)


def _wait_group_empty(ctx: SwitchContext, site: str, group: str) -> None:
    admin = _admin(ctx, site)
    deadline = time.monotonic() + GROUP_EMPTY_TIMEOUT_S
    while (state := describe_group(admin, group)).active:
        if time.monotonic() > deadline:
            raise StateError(
                f"consumer group {group!r} still has {state.members} members on {site!r}",
                hint="Stop the consumers of that group on the target site, then resume.",
            )
        time.sleep(1.0)


def commit_offsets(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Translate every replicated group's position and commit it on the target."""
    method = "offset-syncs" if plan.request.planned else "checkpoints"
    parts = []
    for group in _replicated_groups(plan):
        tr = translate_group(ctx.settings, plan.before, group, plan.source, plan.target, method)
        if tr.untranslated and plan.request.planned and not plan.request.allow_missing_checkpoints:
            bad = ", ".join(f"{t.source_topic}-{t.partition}" for t in tr.untranslated[:5])
            raise StateError(
                f"group {group!r} has committed offsets MM2 never synced: {bad}",
                hint="Wait for MM2 to emit offset syncs (offset flush interval), then resume; or "
                "--allow-missing-checkpoints to leave those partitions at their old offsets.",
            )
        _wait_group_empty(ctx, plan.target, group)
        target = _admin(ctx, plan.target)
        offsets, kept = never_backwards(tr.offsets, describe_group(target, group).offsets)
        commit_group_offsets(target, group, offsets)
        st.translations.append(tr)
        parts.append(
            f"{group}: {len(offsets)} partitions committed, {kept} kept ahead, "
            f"{len(tr.untranslated)} untranslated"
        )
    return "; ".join(parts) or "no replicated groups"


def never_backwards(
    translated: dict[tuple[str, int], int], existing: dict[tuple[str, int], int]
) -> tuple[dict[tuple[str, int], int], int]:
    """Return offsets to commit (never below what the target group committed) and how many kept.

    An offset committed on the target means its workers made those records durable there
    (commit after durable), so moving back would only redeliver; MM2's group sync does the same.
    """
    out, kept = {}, 0
    for tp, offset in translated.items():
        if existing.get(tp, -1) > offset:
            kept += 1
        out[tp] = max(offset, existing.get(tp, -1))
    return out, kept


def switch_active(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Record the new active site and run the switch hook."""
    record_active_site(ctx.store, plan.request.scope, plan.target, ctx.run_id)
    hook = ctx.switch_hook or (lambda site, old: run_switch_hook(ctx.settings, site, old))
    return f"active site of {plan.request.scope}: {plan.target}; " + hook(plan.target, plan.source)


def reconfigure_replication(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Apply the topology of the new active site to MM2 (only changed JVMs restart)."""
    changed = ctx.runner.apply(plan.after)
    flows = ", ".join(f.name for f in plan.after.flows) or "none"
    return f"MM2 {'reconfigured' if changed else 'unchanged'}: {flows}"


def _present(ctx: SwitchContext, site: str, subs: dict[str, list[str]]) -> dict[str, list[str]]:
    existing = set(_admin(ctx, site).metadata().topics)
    return existing_only(subs, existing)


def start_workers(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Start the pipeline against the target (and the old site for critical sets if it answers)."""
    subs = _present(ctx, plan.target, subscriptions(plan.after, plan.target))
    out = [ctx.workload.start(plan.target, subs)]
    st.restored_at = time.time()
    if _serves_critical(plan.after) and plan.request.planned:
        own = _present(ctx, plan.source, subscriptions(plan.after, plan.source))
        out.append(ctx.workload.start(plan.source, own))
    return "; ".join(out)


def validate(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """Check topics, groups, lag at switch time and loops; raise StateError listing failures."""
    failures: list[str] = []
    # Right after the switch the target is busy (workers joining, leaders moving): a timeout or
    # a moving coordinator is retried rather than reported as a failed switch.
    for attempt in stamina.retry_context(
        on=UnreachableError, attempts=VALIDATE_ATTEMPTS, timeout=None, wait_initial=2.0
    ):
        with attempt:
            failures = validate_switch(ctx, plan, st)
    if failures:
        raise StateError("; ".join(failures), hint="The switch is done; fix what is listed.")
    return "topics, groups, RPO and loop checks passed"


def notify(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> str:
    """POST the switch to the client webhook."""
    payload = {
        "event": str(plan.request.kind),
        "from": plan.source,
        "to": plan.target,
        "planned": plan.request.planned,
        "run_id": ctx.run_id,
        "at": time.time(),
    }
    send = ctx.notify or (lambda doc: notify_clients(ctx.settings, doc))
    return send(payload)


def rpo_from_samples(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> None:
    """Fill the unplanned RPO estimate from the supervisor's last sample of source→target."""
    flow = plan.before.flow(plan.source, plan.target)
    entry = read_samples(ctx.runner.dir).get("flows", {}).get(flow.name if flow else "", {})
    parts = entry.get("partitions")
    if not parts:
        return
    secs = [p["seconds_behind"] for p in parts]
    st.rpo_seconds = None if any(s is None for s in secs) else max(secs, default=0.0)
    st.messages_not_replicated = sum(int(p["messages_behind"]) for p in parts)
    st.lag_sample_age_seconds = round((ctx.fault_at or st.started_at) - entry["sampled_at"], 3)


STEPS: dict[str, Callable[[SwitchContext, SwitchPlan, RunState], str]] = {
    "confirm-source-down": confirm_source_down,
    "stop-workers": stop_workers,
    "fence-source": fence_source,
    "ensure-replication": ensure_replication,
    "wait-caught-up": wait_caught_up,
    "commit-offsets": commit_offsets,
    "switch-active": switch_active,
    "reconfigure-replication": reconfigure_replication,
    "start-workers": start_workers,
    "validate": validate,
    "notify": notify,
}
