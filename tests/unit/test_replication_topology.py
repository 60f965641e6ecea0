"""Tier rules → flows, worker subscriptions, naming under DefaultReplicationPolicy."""

import pytest

from streamdr.errors import InputError
from streamdr.policy.tiers import Tier
from streamdr.replication.naming import ReplicationNames, validate_aliases
from streamdr.replication.topology import (
    ReplicatedSet,
    Topology,
    existing_only,
    plan_topology,
    sets_from_workflows,
    subscriptions,
    workflow_topics,
)
from streamdr.settings.loader import parse_settings
from streamdr.workflows.model import Workflow

SITES = ["primary", "dr"]
STD = ReplicatedSet("orders", Tier.STANDARD, ("retail.orders",), ("orders",), 300.0)
CRIT = ReplicatedSet("pay", Tier.CRITICAL, ("retail.pay",), ("pay",), 60.0)
NONC = ReplicatedSet("export", Tier.NON_CRITICAL, ("retail.export",), ("export",), 86400.0)


def topo(active="primary", sets=(STD, CRIT, NONC), home="primary"):
    return plan_topology(
        list(sets),
        SITES,
        home=home,
        active=active,
        separator="_",
        emit_interval=lambda rpo: rpo / 10,
    )


def flows(t: Topology):
    return {f.name: (f.topics, f.groups) for f in t.flows}


def test_normal_operation_standard_one_way_critical_both_noncritical_none():
    assert flows(topo()) == {
        "primary->dr": (("retail.orders", "retail.pay"), ("orders", "pay")),
        "dr->primary": (("retail.pay",), ("pay",)),
    }


def test_after_failover_standard_flows_both_ways_until_failback():
    t = topo(active="dr")
    assert flows(t)["dr->primary"] == (("retail.orders", "retail.pay"), ("orders", "pay"))
    assert flows(t)["primary->dr"] == (("retail.orders", "retail.pay"), ("orders", "pay"))


def test_emit_interval_follows_the_tightest_tier_in_the_flow():
    t = topo()
    assert t.flow("primary", "dr").emit_interval_seconds == 6.0
    only_std = topo(sets=(STD,))
    assert only_std.flow("primary", "dr").emit_interval_seconds == 30.0


def test_subscriptions_of_the_active_and_the_standby_site():
    t = topo()
    assert subscriptions(t, "primary") == {
        "orders": ["retail.orders", "dr_retail.orders"],
        "pay": ["retail.pay"],
        "export": ["retail.export"],
    }
    assert subscriptions(t, "dr") == {"pay": ["retail.pay"]}
    failed_over = topo(active="dr")
    assert subscriptions(failed_over, "dr")["orders"] == ["retail.orders", "primary_retail.orders"]
    assert subscriptions(failed_over, "dr")["pay"] == ["retail.pay", "primary_retail.pay"]
    assert subscriptions(failed_over, "primary") == {"pay": ["retail.pay"]}


def test_topology_json_round_trip():
    t = topo(active="dr")
    assert Topology.from_json(t.to_json()) == t


def test_aliases_containing_the_separator_are_refused():
    with pytest.raises(InputError, match="contains the replication separator"):
        plan_topology(
            [STD],
            ["us-east", "us-west"],
            home="us-east",
            active="us-east",
            separator="-",
            emit_interval=lambda r: 1.0,
        )
    validate_aliases(SITES, "_")


def test_remote_names_and_loop_detection():
    n = ReplicationNames("_")
    assert n.remote_topic("primary", "retail.orders") == "primary_retail.orders"
    assert n.checkpoints_topic("primary") == "primary_checkpoints_internal"
    assert n.offset_syncs_topic("dr") == "mm2-offset-syncs_dr_internal"
    assert n.remote_heartbeats_topic("dr") == "dr_heartbeats"
    assert n.original_topic("dr_primary_t") == "t"
    assert n.is_cycle("dr_t", "dr") and n.is_cycle("primary_dr_t", "dr")
    assert not n.is_cycle("primary_t", "dr")
    assert n.is_loop_topic("dr_primary_t", "primary", SITES)
    assert not n.is_loop_topic("dr_t", "primary", SITES)
    assert not n.is_loop_topic("primary_checkpoints_internal", "dr", SITES)
    assert not n.is_loop_topic("my_topic_name", "dr", SITES)
    dotted = ReplicationNames(".")
    assert dotted.checkpoints_topic("a") == "a.checkpoints.internal"


SETTINGS = """
version: 1
sites:
  primary: {bootstrap_servers: "127.0.0.1:9092"}
  dr: {bootstrap_servers: "127.0.0.1:9093"}
sources:
  shop: {kind: postgres, dsn: "host=x", topic_prefix: cdc.shop}
"""


def test_workflow_topics_from_cdc_tables_and_topic_sources():
    settings = parse_settings(SETTINGS, "s.yaml")
    base = {
        "client": "acme",
        "transformation": {"name": "tx", "version": "1.0.0"},
        "sink": {"url": "http://x"},
    }
    cdc = Workflow.model_validate(
        {
            **base,
            "name": "a",
            "tier": "critical",
            "source": {"database": "shop", "tables": ["public.orders", "public.items"]},
        }
    )
    plain = Workflow.model_validate(
        {**base, "name": "b", "tier": "standard", "source": {"topic": "events"}}
    )
    assert workflow_topics(cdc, settings) == ("cdc.shop.public.orders", "cdc.shop.public.items")
    sets = sets_from_workflows([cdc, plain], settings)
    assert [(s.name, s.tier, s.groups, s.rpo_seconds) for s in sets] == [
        ("a", Tier.CRITICAL, ("a",), 60.0),
        ("b", Tier.STANDARD, ("b",), 300.0),
    ]
    unknown = Workflow.model_validate(
        {**base, "name": "c", "tier": "standard", "source": {"database": "nope", "tables": ["s.t"]}}
    )
    with pytest.raises(InputError, match="nope"):
        workflow_topics(unknown, settings)


def test_existing_only_keeps_groups_and_drops_topics_a_site_lacks():
    subs = {"orders": ["retail.orders", "primary_retail.orders"], "idle": ["gone"]}
    assert existing_only(subs, {"retail.orders"}) == {"orders": ["retail.orders"], "idle": []}
