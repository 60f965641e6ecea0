"""Failover/failback plans: every refusal of the issue, the step lists, JSON round trip."""

import pytest

from streamdr.errors import InputError, StateError, UnreachableError
from streamdr.policy.tiers import Tier
from streamdr.replication.failover.plan import (
    GroupFacts,
    SwitchFacts,
    SwitchKind,
    SwitchPlan,
    SwitchRequest,
    plan_switch,
    refusals,
)
from streamdr.replication.failover.steps import never_backwards
from streamdr.replication.topology import ReplicatedSet, plan_topology

STD = ReplicatedSet("orders", Tier.STANDARD, ("retail.orders",), ("orders",), 300.0)
CRIT = ReplicatedSet("pay", Tier.CRITICAL, ("retail.pay",), ("pay",), 60.0)


def before(active="primary", sets=(STD,), sites=("primary", "dr"), sep="_"):
    return plan_topology(
        list(sets),
        list(sites),
        home=sites[0],
        active=active,
        separator=sep,
        emit_interval=lambda r: 1.0,
    )


def facts(active="primary", src=False, dst=True, mm2=True, groups=None, workload="DrillWorkload"):
    g = (
        groups
        if groups is not None
        else (GroupFacts("orders", "orders", Tier.STANDARD, 0, 3, None),)
    )
    return SwitchFacts(active, src, dst, mm2, g, workload)


def failover(planned=False, target="dr", allow=False):
    return SwitchRequest(SwitchKind.FAILOVER, target, planned, "platform", allow)


def failback(target="primary"):
    return SwitchRequest(SwitchKind.FAILBACK, target, True, "platform")


def kinds(problems):
    return [(type(p), p.message) for p in problems]


def test_unplanned_failover_plan_steps_in_runbook_order():
    plan = plan_switch(failover(), facts(), before())
    assert [s.name for s in plan.steps] == [
        "confirm-source-down",
        "stop-workers",
        "commit-offsets",
        "switch-active",
        "start-workers",
        "reconfigure-replication",
        "validate",
        "notify",
    ]
    assert plan.source == "primary" and plan.target == "dr"
    assert {f.name for f in plan.after.flows} == {"primary->dr", "dr->primary"}
    start = next(s for s in plan.steps if s.name == "start-workers")
    assert "primary_retail.orders" in start.action
    assert all(s.revert for s in plan.steps)
    assert not plan.warnings


def test_planned_and_failback_plans_fence_wait_and_translate_exactly():
    plan = plan_switch(failover(planned=True), facts(src=True), before())
    names = [s.name for s in plan.steps]
    assert names[:4] == ["ensure-replication", "fence-source", "wait-caught-up", "commit-offsets"]
    assert names.index("start-workers") < names.index("reconfigure-replication")
    back = plan_switch(failback(), facts(active="dr", src=True), before(active="dr"))
    assert back.source == "dr" and back.target == "primary"
    assert [f.name for f in back.after.flows] == ["primary->dr"]


def test_plan_round_trips_through_json_for_resume():
    plan = plan_switch(failover(), facts(workload="none"), before())
    assert plan.warnings and "no workload control" in plan.warnings[0]
    assert SwitchPlan.from_dict(plan.as_dict()) == plan


def test_failover_to_the_active_site_is_refused():
    with pytest.raises(StateError, match="already the active site"):
        plan_switch(failover(target="primary"), facts(), before())


def test_alias_containing_the_separator_is_refused():
    t = before()
    # A topology saved before someone renamed a site (plan_topology itself refuses this).
    bad = t.__class__(("us_east", "us-west"), "us_east", "us_east", "_", t.sets, ())
    problems = refusals(failover(target="us-west"), facts(active="us_east"), bad)
    assert any(isinstance(p, InputError) and "separator" in p.message for p in problems)


def test_planned_switch_needs_mm2_running_and_a_reachable_source():
    problems = refusals(failover(planned=True), facts(src=True, mm2=False), before())
    assert any("MirrorMaker 2 is not running" in p.message for p in problems)
    problems = refusals(failover(planned=True), facts(src=False), before())
    assert any(isinstance(p, UnreachableError) and "fence" in p.message for p in problems)


def test_unplanned_failover_refused_while_the_source_still_answers():
    problems = refusals(failover(), facts(src=True), before())
    assert any("still answers" in p.message and "--planned" in (p.hint or "") for p in problems)


def test_target_group_still_active_is_refused():
    busy = (GroupFacts("orders", "orders", Tier.STANDARD, 2, 3, None),)
    with pytest.raises(StateError, match="2 active members"):
        plan_switch(failover(), facts(groups=busy), before())


def test_critical_groups_may_be_active_on_the_target_they_are_restarted():
    busy = (GroupFacts("pay", "pay", Tier.CRITICAL, 1, 3, None),)
    plan = plan_switch(failover(), facts(groups=busy), before(sets=(CRIT,)))
    stop = next(s for s in plan.steps if s.name == "stop-workers")
    assert "against dr" in stop.action


def test_missing_checkpoints_are_refused_unless_allowed():
    never = (GroupFacts("orders", "orders", Tier.STANDARD, 0, 0, None),)
    with pytest.raises(StateError, match="never translated") as info:
        plan_switch(failover(), facts(groups=never), before())
    assert "--allow-missing-checkpoints" in (info.value.hint or "")
    assert plan_switch(failover(allow=True), facts(groups=never), before())
    # A group that never committed on a reachable source has nothing to translate.
    fresh = (GroupFacts("orders", "orders", Tier.STANDARD, 0, 0, 0),)
    assert not [
        p for p in refusals(failover(), facts(groups=fresh), before()) if "checkpoint" in p.message
    ]


def test_failback_while_the_old_site_is_unreachable_is_refused():
    with pytest.raises(UnreachableError, match="fail back to 'primary'") as info:
        plan_switch(failback(), facts(active="dr", src=True, dst=False), before(active="dr"))
    assert "lab up" in (info.value.hint or "")


def test_failback_goes_home_only():
    problems = refusals(failback(target="dr"), facts(active="primary", src=True), before())
    assert any("home site" in p.message for p in problems)


def test_several_problems_are_counted_in_the_message():
    with pytest.raises(StateError, match=r"and \d+ more problems"):
        plan_switch(failover(target="primary", planned=True), facts(mm2=False), before())


def test_commits_never_move_a_group_backwards():
    offsets, kept = never_backwards({("t", 0): 10, ("t", 1): 50}, {("t", 0): 40, ("t", 1): 20})
    assert offsets == {("t", 0): 40, ("t", 1): 50} and kept == 1
