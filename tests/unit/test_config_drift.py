"""Drift diffing: files deployed vs HEAD, the branch relation, and topics the workflows need."""

import pytest

from streamdr.kafka.admin import PartitionState, TopicState
from streamdr.policy.topic_policy import ActionKind, TopicPolicy, plan_topics
from streamdr.settings import parse_settings
from streamdr.workflows.diff import Change, FileChange, diff_files
from streamdr.workflows.documents import parse_workflow
from streamdr.workflows.drift import (
    DriftReport,
    Relation,
    branch_relation,
    desired_topics,
    workflow_topics,
)

SETTINGS = parse_settings(
    """
sites:
  primary: {bootstrap_servers: "127.0.0.1:1"}
  dr: {bootstrap_servers: "127.0.0.1:2"}
sources:
  retail: {kind: postgres, dsn: "host=db", topic_prefix: retail}
topics:
  - name: retail.public.orders
    partitions: 6
    config: {retention.ms: "604800000"}
""",
    "streamdr.yaml",
)


def wf(
    name,
    tier="standard",
    source="database: retail\n  tables: [public.orders, public.lines]",
    extra="",
):
    text = (
        f"name: {name}\nclient: c\ntier: {tier}\nsource:\n  {source}\n"
        f"transformation: {{name: t, version: 1.0.0}}\nsink: {{url: 'http://x'}}\n{extra}"
    )
    doc = parse_workflow(text, name)
    assert doc.workflow is not None, doc.errors
    return doc.workflow


def test_diff_files():
    old = {"a.yaml": "1", "b.yaml": b"2", "c.yaml": "3"}
    new = {"b.yaml": "2", "c.yaml": "changed", "d.yaml": "4"}
    assert diff_files(old, new) == [
        FileChange("a.yaml", Change.REMOVED),
        FileChange("c.yaml", Change.MODIFIED),
        FileChange("d.yaml", Change.ADDED),
    ]
    assert diff_files(new, new) == []


@pytest.mark.parametrize(
    ("deployed", "head", "present", "ancestors", "expected"),
    [
        (None, "h", set(), set(), Relation.NOT_DEPLOYED),
        ("d", None, {"d"}, set(), Relation.BRANCH_MISSING),
        ("d", "d", {"d"}, set(), Relation.IN_SYNC),
        ("d", "h", set(), set(), Relation.DEPLOYED_COMMIT_MISSING),
        ("d", "h", {"d", "h"}, {("d", "h")}, Relation.AHEAD),
        ("d", "h", {"d", "h"}, {("h", "d")}, Relation.BEHIND),
        ("d", "h", {"d", "h"}, set(), Relation.DIVERGED),
    ],
)
def test_branch_relation(deployed, head, present, ancestors, expected):
    got = branch_relation(deployed, head, present.__contains__, lambda a, b: (a, b) in ancestors)
    assert got is expected


def test_workflow_topics():
    assert workflow_topics(wf("a"), SETTINGS) == [
        "retail.public.orders",
        "retail.public.lines",
        "a.dlq",
    ]
    topic_wf = wf("b", source="topic: events.raw", extra="dlq: {enabled: false}\n")
    assert workflow_topics(topic_wf, SETTINGS) == ["events.raw"]
    kafka_sink = wf("c", source="topic: in", extra="").model_copy(
        update={"sink": wf("c").sink.model_copy(update={"kind": "kafka", "topic": "out"})}
    )
    assert workflow_topics(kafka_sink, SETTINGS) == ["in", "c.dlq", "out"]


def test_desired_topics_by_tier_and_declarations_win():
    desired = desired_topics(
        [wf("std"), wf("crit", tier="critical", source="topic: crit.in")], SETTINGS
    )
    primary = {d.name: d for d in desired["primary"]}
    assert set(primary) == {
        "retail.public.orders",
        "retail.public.lines",
        "std.dlq",
        "crit.in",
        "crit.dlq",
    }
    assert primary["retail.public.orders"].partitions == 6  # the settings' declaration
    assert primary["std.dlq"].partitions == 3
    assert {d.name for d in desired["dr"]} == {"crit.in", "crit.dlq"}  # active-active only


def _state(name, rf=3, partitions=3):
    return TopicState(
        name,
        tuple(
            PartitionState(name, p, 1, tuple(range(rf)), tuple(range(rf)))
            for p in range(partitions)
        ),
    )


def test_live_diff_reuses_the_topic_policy():
    decls = desired_topics([wf("std")], SETTINGS)["primary"]
    live = {
        "std.dlq": _state("std.dlq"),
        "retail.public.orders": _state("retail.public.orders", rf=1),
    }
    configs = {
        "std.dlq": {"min.insync.replicas": "1", "unclean.leader.election.enable": "false"},
        "retail.public.orders": {
            "min.insync.replicas": "2",
            "unclean.leader.election.enable": "false",
            "retention.ms": "604800000",
        },
    }
    actions = plan_topics("primary", decls, live, configs, TopicPolicy())
    kinds = {(a.topic, a.kind) for a in actions}
    assert ("retail.public.lines", ActionKind.CREATE) in kinds
    assert ("std.dlq", ActionKind.ALTER_CONFIG) in kinds
    assert ("retail.public.orders", ActionKind.ADD_PARTITIONS) in kinds
    assert ("retail.public.orders", ActionKind.MANUAL) in kinds  # RF 1 needs a reassignment


def test_report_drift_flags():
    clean = DriftReport("d", "d", Relation.IN_SYNC)
    assert not clean.has_drift
    assert not DriftReport("d", "h", Relation.AHEAD).has_drift  # commits without workflow changes
    assert DriftReport(
        "d", "h", Relation.AHEAD, repo_changes=[FileChange("x", Change.ADDED)]
    ).has_drift
    assert DriftReport("d", "h", Relation.DIVERGED).has_drift
    doc = DriftReport("d", "h", Relation.BEHIND).as_dict()
    assert doc["drift"] is True and doc["relation"] == "behind"
