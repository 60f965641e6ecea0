from streamdr.kafka.admin import PartitionState, TopicState
from streamdr.policy.topic_policy import (
    ActionKind,
    TopicPolicy,
    desired_config,
    plan_policy_fixes,
    plan_topics,
)
from streamdr.settings import TopicDeclaration

POLICY = TopicPolicy()


def state(name, partitions=3, rf=3):
    reps = tuple(range(1, rf + 1))
    return TopicState(
        name, tuple(PartitionState(name, p, 1, reps, reps) for p in range(partitions))
    )


def test_missing_topic_is_created_with_policy_config():
    decl = TopicDeclaration(
        name="orders", partitions=6, replication_factor=1, config={"retention.ms": "604800000"}
    )
    [action] = plan_topics("primary", [decl], {}, {}, POLICY)
    assert action.kind is ActionKind.CREATE
    assert action.partitions == 6
    assert action.replication_factor == 3  # the policy minimum wins over a weaker declaration
    assert action.config["min.insync.replicas"] == "2"
    assert action.config["unclean.leader.election.enable"] == "false"
    assert action.config["retention.ms"] == "604800000"


def test_declared_stricter_isr_is_kept_weaker_is_raised():
    strict = TopicDeclaration(name="t", config={"min.insync.replicas": "3"})
    weak = TopicDeclaration(name="t", config={"min.insync.replicas": "1"})
    assert desired_config(strict, POLICY)["min.insync.replicas"] == "3"
    assert desired_config(weak, POLICY)["min.insync.replicas"] == "2"


def test_existing_topic_config_partitions_and_rf():
    decl = TopicDeclaration(name="t", partitions=6)
    live = {"t": state("t", partitions=3, rf=1)}
    configs = {"t": {"min.insync.replicas": "1", "unclean.leader.election.enable": "false"}}
    actions = {a.kind: a for a in plan_topics("primary", [decl], live, configs, POLICY)}
    assert actions[ActionKind.ALTER_CONFIG].config == {"min.insync.replicas": "2"}
    assert actions[ActionKind.ADD_PARTITIONS].partitions == 6
    assert "replication factor 1" in actions[ActionKind.MANUAL].reason


def test_compliant_topic_needs_nothing_and_site_filter_applies():
    decl = TopicDeclaration(name="t", sites=["dr"])
    ok = {"t": {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}}
    assert plan_topics("dr", [decl], {"t": state("t")}, ok, POLICY) == []
    assert plan_topics("primary", [decl], {}, {}, POLICY) == []


def test_fewer_partitions_declared_than_live_is_manual():
    decl = TopicDeclaration(name="t", partitions=1)
    ok = {"t": {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}}
    [action] = plan_topics("primary", [decl], {"t": state("t", 3)}, ok, POLICY)
    assert action.kind is ActionKind.MANUAL


def test_policy_fixes_skip_internal_topics():
    configs = {
        "__consumer_offsets": {"min.insync.replicas": "1"},
        "x": {"unclean.leader.election.enable": "true", "min.insync.replicas": "2"},
    }
    [fix] = plan_policy_fixes("primary", configs, POLICY)
    assert fix.topic == "x"
    assert fix.config == {"unclean.leader.election.enable": "false"}
