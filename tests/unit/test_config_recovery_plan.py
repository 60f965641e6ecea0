"""Scenario 3 planning: pick the last known-good commit from the metadata DB and the reflog."""

import pytest

from streamdr.errors import StateError
from streamdr.workflows.recovery import TargetSource, plan_recovery
from streamdr.workflows.repo import ReflogEntry

# History: r -- a -- d (deployed) -- t (undeployed tip);  x: an unrelated force-pushed commit.
PARENTS = {"a": "r", "d": "a", "t": "d", "x": None, "r": None, "y": "x"}


def is_ancestor(a, b):
    while b is not None:
        if a == b:
            return True
        b = PARENTS[b]
    return False


def reflog(*shas):
    return [ReflogEntry(s, f"main@{{{i}}}", "msg") for i, s in enumerate(shas)]


def plan(head, deployed=("d",), log=(), present=None, **kw):
    present = present or set(PARENTS)
    return plan_recovery(
        "main", head, list(deployed), reflog(*log), present.__contains__, is_ancestor, **kw
    )


def test_intact_branch_needs_nothing():
    p = plan("t", log=("t", "d"))
    assert not p.needed and p.source is TargetSource.NONE


def test_reset_hard_restores_the_pre_incident_tip():
    p = plan("r", log=("r", "t", "d", "a"))
    assert p.needed and p.source is TargetSource.REFLOG and p.target == "t"
    assert p.candidates == ("t", "d")


def test_prefer_deployed():
    p = plan("r", log=("r", "t", "d"), prefer_deployed=True)
    assert p.target == "d" and p.source is TargetSource.DEPLOYMENT


def test_force_push_of_unrelated_history():
    p = plan("y", log=("y", "x", "t"))
    assert p.target == "t" and p.needed


def test_without_reflog_the_deployed_commit_is_the_target():
    p = plan("x", log=())
    assert p.target == "d" and p.source is TargetSource.DEPLOYMENT


def test_branch_deleted():
    p = plan(None, log=("t",))
    assert p.needed and p.target == "t"


def test_deployed_object_gone_rebuilds_from_snapshot():
    p = plan("x", deployed=("d", "a"), log=("x",), present={"x", "a", "r"})
    assert p.source is TargetSource.SNAPSHOT and p.target is None and p.last_deployed == "d"


def test_dropped_undeployed_tip_is_reported_not_forced():
    p = plan("d", log=("d", "t"))
    assert not p.needed and p.candidates == ("t",)
    assert "newer tips" in p.reason


def test_explicit_target_and_nothing_deployed():
    assert plan("x", deployed=(), explicit="a").target == "a"
    with pytest.raises(StateError, match="no deployment"):
        plan("x", deployed=())
