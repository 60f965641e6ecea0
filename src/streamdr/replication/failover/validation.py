"""Post-switch validation: the target has the topics, the groups, acceptable RPO, and no loop."""

from __future__ import annotations

from streamdr.errors import StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.replication.failover.context import RunState, SwitchContext
from streamdr.replication.failover.plan import SwitchPlan
from streamdr.replication.mm2.internal_topics import describe_group


def validate_switch(ctx: SwitchContext, plan: SwitchPlan, st: RunState) -> list[str]:
    """Return every validation failure (empty: valid); fills ``st.validation``."""
    names = plan.before.names
    failures: list[str] = []
    flow = plan.before.flow(plan.source, plan.target)
    target = KafkaAdmin(plan.target, ctx.settings.sites[plan.target])
    topics = set(target.metadata().topics)
    on_source = _source_topics(ctx, plan.source)
    expected = [
        names.remote_topic(plan.source, t)
        for t in (flow.topics if flow else ())
        if on_source is None or t in on_source
    ]
    missing = [t for t in expected if t not in topics]
    if missing:
        failures.append(f"remote topics missing on {plan.target}: {', '.join(missing)}")
    # Groups that had a position to translate must now have offsets on the target (a group that
    # never committed on the source has nothing to carry over).
    uncommitted = [
        tr.group
        for tr in st.translations
        if tr.offsets and not describe_group(target, tr.group).offsets
    ]
    if uncommitted:
        failures.append(f"groups without committed offsets on {plan.target}: {uncommitted}")
    failures += _rpo_failures(plan, st)
    loops = _loop_topics(ctx, plan)
    if loops:
        failures.append(f"replication loop topics: {', '.join(loops[:5])}")
    st.validation = {
        "remote_topics_expected": len(expected),
        "remote_topics_missing": missing,
        "groups_without_offsets": uncommitted,
        "loop_topics": loops,
        "rpo_seconds_estimate": st.rpo_seconds,
        "failures": failures,
    }
    return failures


def _source_topics(ctx: SwitchContext, site: str) -> set[str] | None:
    """Return the topics of ``site``, or None when it does not answer (expect every copy)."""
    try:
        return set(KafkaAdmin(site, ctx.settings.sites[site], timeout=2.0).metadata().topics)
    except StreamdrError:
        return None


def _rpo_failures(plan: SwitchPlan, st: RunState) -> list[str]:
    flow = plan.before.flow(plan.source, plan.target)
    if flow is None:
        return []
    if st.rpo_seconds is None:
        return ["no lag sample from before the switch: the RPO is unknown"]
    out = []
    for s in plan.before.sets:
        if s.name in flow.sets and st.rpo_seconds > s.rpo_seconds:
            out.append(
                f"lag at failover {st.rpo_seconds:.1f}s exceeds {s.name}'s RPO "
                f"({s.rpo_seconds:.0f}s)"
            )
    return out


def _loop_topics(ctx: SwitchContext, plan: SwitchPlan) -> list[str]:
    names, sites = plan.before.names, plan.before.sites
    out = []
    for site in sites:
        try:
            topics = KafkaAdmin(site, ctx.settings.sites[site], timeout=2.0).metadata().topics
        except StreamdrError:
            continue
        out += [f"{site}:{t}" for t in topics if names.is_loop_topic(t, site, sites)]
    return sorted(out)
