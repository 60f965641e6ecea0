"""mm2.properties and Strimzi resources generated from a topology."""

import re

import pytest
from ruamel.yaml import YAML

from streamdr.errors import InputError
from streamdr.policy.tiers import Tier
from streamdr.replication.mm2.config import (
    Mm2Tuning,
    mm2_properties,
    render_properties,
    topic_regex,
)
from streamdr.replication.mm2.strimzi import render_yaml, resource_target, strimzi_resources
from streamdr.replication.topology import ReplicatedSet, plan_topology
from streamdr.settings.loader import parse_settings

SETTINGS = parse_settings(
    """
version: 1
sites:
  primary:
    bootstrap_servers: "10.0.0.1:9092"
    security: {protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-512, sasl_username: mm2,
               sasl_password_env: PRIMARY_PW, ssl_ca_location: /etc/ca.pem}
  dr: {bootstrap_servers: "10.0.1.1:9092"}
""",
    "s.yaml",
)
STD = ReplicatedSet("orders", Tier.STANDARD, ("retail.orders",), ("orders-wf",), 300.0)
CRIT = ReplicatedSet("pay", Tier.CRITICAL, ("retail.pay",), ("pay",), 60.0)
TUNING = Mm2Tuning(
    refresh_interval_seconds=2, offset_lag_max=100, tasks_max=4, replication_factor=3
)


def topology(sets=(STD, CRIT), active="primary"):
    return plan_topology(
        list(sets),
        ["primary", "dr"],
        home="primary",
        active=active,
        separator="_",
        emit_interval=lambda rpo: rpo / 10,
    )


def unescape(text: str) -> dict[str, str]:
    """A minimal java.util.Properties reader for the escapes render_properties emits."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        key, value = re.split(r"(?<!\\)=", line, maxsplit=1)
        dec = lambda s: re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), s)  # noqa: E731
        out[dec(key)] = dec(value)
    return out


def test_properties_carry_flows_tiers_and_the_strategy_defaults():
    props = mm2_properties(topology(), SETTINGS.sites, TUNING)
    assert props["clusters"] == "primary,dr"
    assert props["replication.policy.separator"] == "_"
    assert props["sync.group.offsets.enabled"] == "true"
    for key in (
        "replication.factor",
        "checkpoints.topic.replication.factor",
        "offset-syncs.topic.replication.factor",
        "heartbeats.topic.replication.factor",
        "offset.storage.replication.factor",
        "status.storage.replication.factor",
        "config.storage.replication.factor",
    ):
        assert props[key] == "3", key
    assert props["primary->dr.enabled"] == "true" and props["dr->primary.enabled"] == "true"
    assert props["primary->dr.topics"] == r"retail\.orders,retail\.pay"
    assert props["dr->primary.topics"] == r"retail\.pay"
    assert props["primary->dr.groups"] == r"orders\-wf,pay"
    assert props["primary->dr.emit.checkpoints.interval.seconds"] == "6"
    assert props["dr.offset.flush.interval.ms"] == "6000"
    assert props["dr.scheduled.rebalance.max.delay.ms"] == "0"
    assert props["dr.producer.enable.idempotence"] == "true"
    assert props["dr.producer.max.in.flight.requests.per.connection"] == "5"


def test_regexes_survive_the_properties_file_and_match_exactly():
    text = render_properties(mm2_properties(topology(), SETTINGS.sites, TUNING), "header")
    loaded = unescape(text)
    pattern = loaded["primary->dr.topics"]
    regexes = [re.compile(p) for p in pattern.split(",")]
    assert any(r.fullmatch("retail.orders") for r in regexes)
    assert not any(r.fullmatch("retailXorders") for r in regexes)
    assert topic_regex(("a.b",)) == r"a\.b"


def test_secrets_are_env_references_never_values(monkeypatch):
    monkeypatch.setenv("PRIMARY_PW", "s3cret")
    props = mm2_properties(topology(), SETTINGS.sites, TUNING)
    text = render_properties(props)
    assert "s3cret" not in text
    assert "${env:PRIMARY_PW}" in props["primary.sasl.jaas.config"]
    assert props["config.providers.env.class"].endswith("EnvVarConfigProvider")
    assert props["primary.ssl.truststore.location"] == "/etc/ca.pem"
    assert "dr.sasl.jaas.config" not in props


def test_standard_only_topology_disables_the_reverse_flow_but_keeps_heartbeats():
    props = mm2_properties(topology(sets=(STD,)), SETTINGS.sites, TUNING)
    assert props["dr->primary.enabled"] == "false"
    assert props["emit.heartbeats.enabled"] == "true"
    assert "dr->primary.topics" not in props


def test_named_instances_get_their_own_connect_group_and_topics():
    props = mm2_properties(topology(), SETTINGS.sites, TUNING, instance="drill-1")
    assert props["dr.group.id"] == "drill-1-mm2-dr"
    assert props["primary.offset.storage.topic"] == "mm2-offsets.drill-1.primary.internal"
    default = mm2_properties(topology(), SETTINGS.sites, TUNING)
    assert "dr.group.id" not in default


def test_named_instance_with_three_sites_is_refused():
    three = parse_settings(
        "version: 1\nsites:\n  a: {bootstrap_servers: 'h:1'}\n  b: {bootstrap_servers: 'h:2'}\n"
        "  c: {bootstrap_servers: 'h:3'}\n",
        "s.yaml",
    )
    topo3 = plan_topology(
        [CRIT], ["a", "b", "c"], home="a", active="a", separator="_", emit_interval=lambda r: 1.0
    )
    with pytest.raises(InputError, match="two sites"):
        mm2_properties(topo3, three.sites, TUNING, instance="x")


def test_strimzi_v1_one_resource_per_target_with_a_flow_and_inline_sources():
    resources = strimzi_resources(
        topology(sets=(STD,)), SETTINGS.sites, TUNING, kafka_version="4.1.2"
    )
    # primary receives no data flow (standard tier) and v1 has no heartbeat connector.
    (to_dr,) = resources
    assert to_dr["apiVersion"] == "kafka.strimzi.io/v1"
    assert resource_target(to_dr) == "dr"
    spec = to_dr["spec"]
    assert "clusters" not in spec and "connectCluster" not in spec
    assert spec["target"]["groupId"] == "mirrormaker2-cluster"
    assert spec["target"]["offsetStorageTopic"] == "mirrormaker2-cluster-offsets"
    assert spec["target"]["config"]["offset.storage.replication.factor"] == 3
    (mirror,) = spec["mirrors"]
    assert mirror["source"]["alias"] == "primary" and "config" not in mirror["source"]
    assert mirror["source"]["authentication"]["type"] == "scram-sha-512"
    assert mirror["topicsPattern"] == r"retail\.orders" and mirror["groupsPattern"] == r"orders\-wf"
    assert mirror["sourceConnector"]["tasksMax"] == 4
    assert "heartbeatConnector" not in mirror
    both = strimzi_resources(topology(), SETTINGS.sites, TUNING, kafka_version="4.1.2")
    assert [resource_target(r) for r in both] == ["primary", "dr"]  # critical: both ways


def test_strimzi_unknown_api_is_an_input_error():
    with pytest.raises(InputError, match="v1alpha1"):
        strimzi_resources(topology(), SETTINGS.sites, TUNING, kafka_version="4", api="v1alpha1")


def test_strimzi_v1beta2_one_resource_per_target_with_connect_cluster_and_mirrors():
    resources = strimzi_resources(
        topology(sets=(STD,)), SETTINGS.sites, TUNING, kafka_version="4.1.2", api="v1beta2"
    )
    assert [r["spec"]["connectCluster"] for r in resources] == ["primary", "dr"]
    to_dr = resources[1]["spec"]
    assert to_dr["mirrors"][0]["sourceCluster"] == "primary"
    assert to_dr["mirrors"][0]["topicsPattern"] == r"retail\.orders"
    check = to_dr["mirrors"][0]["checkpointConnector"]["config"]
    assert check["sync.group.offsets.enabled"] == "true"
    assert check["replication.policy.separator"] == "_"
    # primary receives no data flow (standard tier), only heartbeats for lag measurement.
    to_primary = resources[0]["spec"]["mirrors"][0]
    assert "sourceConnector" not in to_primary and "heartbeatConnector" in to_primary
    auth = resources[1]["spec"]["clusters"][0]["authentication"]
    assert auth["type"] == "scram-sha-512" and auth["passwordSecret"]["secretName"]
    docs = list(YAML(typ="safe").load_all(render_yaml(resources)))
    assert docs[1]["kind"] == "KafkaMirrorMaker2"
    assert docs[1]["apiVersion"] == "kafka.strimzi.io/v1beta2"


OVERRIDES = """
version: 1
sites:
  primary: {bootstrap_servers: "10.0.0.1:9092"}
  dr: {bootstrap_servers: "10.0.1.1:9092"}
replication:
  mm2:
    client_overrides:
      consumer.receive.buffer.bytes: 266666
      consumer.fetch.max.wait.ms: "100"
      producer.linger.ms: 50
      producer.compression.type: zstd
"""


def test_client_overrides_reach_source_consumers_and_target_producers():
    settings = parse_settings(OVERRIDES, "s.yaml")
    tuning = Mm2Tuning.from_settings(settings.replication, lab=False)
    props = mm2_properties(topology(sets=(STD,)), settings.sites, tuning)
    # Standard tier, primary active: one flow primary -> dr.
    assert props["primary.consumer.receive.buffer.bytes"] == "266666"
    assert props["primary.consumer.fetch.max.wait.ms"] == "100"
    assert "dr.consumer.receive.buffer.bytes" not in props
    assert props["dr.producer.linger.ms"] == "50"  # wins over the writer's default of 10
    assert props["dr.producer.compression.type"] == "zstd"
    assert props["dr.producer.enable.idempotence"] == "true"  # not overridable
    assert props["primary.producer.linger.ms"] == "50"  # every writer, as WRITER_PRODUCER
    text = render_properties(props)
    assert "primary.consumer.receive.buffer.bytes=266666\n" in text
    # MM2's JVM finds its plugins through ServiceLoader manifests (no reflective classpath scan).
    assert props["plugin.discovery"] == "service_load"


def test_without_overrides_the_properties_are_unchanged():
    settings = parse_settings(OVERRIDES.split("replication:")[0], "s.yaml")
    tuning = Mm2Tuning.from_settings(settings.replication, lab=False)
    props = mm2_properties(topology(sets=(STD,)), settings.sites, tuning)
    assert not any(".consumer." in k for k in props)
    assert props["dr.producer.linger.ms"] == "10"


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("consumer.bootstrap.servers", "evil:9092", "not an allowed key"),
        ("producer.acks", "1", "not an allowed key"),
        ("producer.enable.idempotence", "false", "not an allowed key"),
        ("consumer.interceptor.classes", "x.Evil", "not an allowed key"),
        ("consumer.sasl.jaas.config", "x", "not an allowed key"),
        ("fetch.max.bytes", "1048576", "not an allowed key"),
        ("admin.request.timeout.ms", "1000", "not an allowed key"),
        ("consumer.fetch.max.bytes", "lots", "must be an integer"),
        ("consumer.fetch.max.bytes", "true", "must be an integer"),
        ("consumer.fetch.max.wait.ms", "600001", "must be between"),
        ("producer.max.in.flight.requests.per.connection", "6", "must be between"),
        ("producer.compression.type", "brotli", "must be one of"),
    ],
)
def test_client_overrides_refuse_keys_and_values_off_the_allow_list(key, value, why):
    doc = OVERRIDES.split("replication:")[0] + (
        f"replication:\n  mm2:\n    client_overrides:\n      {key}: {value!r}\n"
    )
    with pytest.raises(InputError) as exc:
        parse_settings(doc, "s.yaml")
    assert why in str(exc.value) + str(getattr(exc.value, "hint", ""))
