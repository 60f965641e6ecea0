"""MM2 client overrides in the Strimzi render: where each kind lands, in both API versions."""

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from streamdr.deploy.validate import validation_errors
from streamdr.errors import InputError
from streamdr.policy.tiers import Tier
from streamdr.replication.mm2.config import CLIENT_ROLES, Mm2Tuning, mm2_properties
from streamdr.replication.mm2.strimzi import (
    STRIMZI_APIS,
    render_yaml,
    resource_target,
    strimzi_refusal,
    strimzi_resources,
)
from streamdr.replication.topology import ReplicatedSet, Topology, plan_topology
from streamdr.settings.loader import parse_settings
from streamdr.settings.model import Settings
from streamdr.settings.replication import CLIENT_KEYS
from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures"
SITES_YAML = """
version: 1
sites:
  primary:
    bootstrap_servers: "kafka-a.example:9093"
    security: {protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-512, sasl_username: streamdr,
               sasl_password_env: KAFKA_PW, ssl_ca_location: /etc/streamdr/ca.pem}
  dr: {bootstrap_servers: "kafka-b.example:9093"}
  west: {bootstrap_servers: "kafka-c.example:9093"}
"""


def settings(replication: str = "") -> Settings:
    return parse_settings(SITES_YAML + replication, "s.yaml")


def topology() -> Topology:
    sets = [
        ReplicatedSet("payments", Tier.CRITICAL, ("pay.events",), ("pay",), 60.0),
        ReplicatedSet("orders", Tier.STANDARD, ("retail.orders",), ("orders",), 300.0),
    ]
    return plan_topology(
        sets,
        ["primary", "dr", "west"],
        home="primary",
        active="primary",
        separator="_",
        emit_interval=lambda rpo: rpo / 10,
    )


def resources(s: Settings, api: str) -> list[dict]:
    tuning = Mm2Tuning.from_settings(s.replication, lab=False)
    return strimzi_resources(topology(), s.sites, tuning, kafka_version="4.1.2", api=api)


def golden_render(api: str) -> str:
    return render_yaml(resources(settings(), api))


def every_allowed_key() -> dict[str, str]:
    """Return an override for every key of the allow-list, each with a value it accepts."""
    found = {}
    for kind, keys in CLIENT_KEYS.items():
        for key, rule in keys.items():
            found[f"{kind}.{key}"] = sorted(rule)[-1] if isinstance(rule, frozenset) else rule[1]
    return found


def with_overrides(overrides: dict[str, object]) -> Settings:
    lines = "".join(f"      {k}: {v!r}\n" for k, v in overrides.items())
    return settings(f"replication:\n  mm2:\n    client_overrides:\n{lines}")


def target_config(resource: dict) -> dict:
    spec = resource["spec"]
    if "target" in spec:
        return spec["target"]["config"]
    (target,) = [c for c in spec["clusters"] if c["alias"] == spec["connectCluster"]]
    return target["config"]


def source_clusters(resource: dict) -> list[dict]:
    spec = resource["spec"]
    if "target" in spec:
        return [m["source"] for m in spec["mirrors"]]
    return [c for c in spec["clusters"] if c["alias"] != spec["connectCluster"]]


def mirror_source(mirror: dict) -> str:
    return mirror["source"]["alias"] if "source" in mirror else mirror["sourceCluster"]


@pytest.mark.parametrize("api", STRIMZI_APIS)
def test_every_allowed_key_lands_where_strimzi_gives_it_to_the_same_clients(api):
    overrides = every_allowed_key()
    consumer = {k: v for k, v in overrides.items() if k.startswith("consumer.")}
    producer = {k: v for k, v in overrides.items() if k.startswith("producer.")}
    found = resources(with_overrides(overrides), api)
    assert len(found) == 3
    for resource in found:
        config = target_config(resource)
        assert {k: v for k, v in config.items() if k.startswith("producer.")} == producer
        assert not any(k.startswith("consumer.") for k in config)
        assert all("config" not in c for c in source_clusters(resource))
        connectors = 0
        for mirror in resource["spec"]["mirrors"]:
            for name in ("sourceConnector", "checkpointConnector"):
                if name not in mirror:
                    continue  # v1beta2's heartbeat-only mirror
                connectors += 1
                placed = mirror[name]["config"]
                assert {k: v for k, v in placed.items() if k.startswith("consumer.")} == consumer
                assert not any(k.startswith("producer.") for k in placed)
            if "heartbeatConnector" in mirror:
                assert not any(
                    k.startswith(("consumer.", "producer."))
                    for k in mirror["heartbeatConnector"]["config"]
                )
        assert connectors >= 2


@pytest.mark.parametrize("api", STRIMZI_APIS)
def test_overrides_mean_the_same_in_the_resource_as_in_the_properties_file(api):
    s = with_overrides(
        {
            "consumer.fetch.max.bytes": 52428800,
            "producer.linger.ms": 100,
            "producer.compression.type": "zstd",
        }
    )
    tuning = Mm2Tuning.from_settings(s.replication, lab=False)
    props = mm2_properties(topology(), s.sites, tuning)
    for resource in resources(s, api):
        target = resource_target(resource)
        for key, value in target_config(resource).items():
            if key.startswith("producer."):
                assert props[f"{target}.{key}"] == str(value)
        for mirror in resource["spec"]["mirrors"]:
            for key, value in mirror.get("sourceConnector", {}).get("config", {}).items():
                if key.startswith("consumer."):
                    assert props[f"{mirror_source(mirror)}.{key}"] == str(value)
    assert props["dr.producer.linger.ms"] == "100"
    assert props["primary.consumer.fetch.max.bytes"] == "52428800"


def test_resources_with_every_override_validate_strictly_against_the_crd():
    s = with_overrides(every_allowed_key())
    found = resources(s, "v1") + resources(s, "v1beta2")
    assert len(found) == 6
    assert validation_errors(found) == []


@pytest.mark.parametrize("api", STRIMZI_APIS)
def test_without_overrides_the_render_is_byte_identical_to_before(api):
    golden = (FIXTURES / f"strimzi-{api}.golden.yaml").read_text()
    assert golden_render(api) == golden
    explicit_empty = settings("replication:\n  mm2:\n    client_overrides: {}\n")
    assert render_yaml(resources(explicit_empty, api)) == golden


def test_every_kind_of_client_has_a_place_in_both_deployments():
    assert CLIENT_ROLES.keys() == CLIENT_KEYS.keys()
    places = {"targetCluster", "sourceConnector", "checkpointConnector"}
    for role in CLIENT_ROLES.values():
        assert role.cluster in ("source", "target")
        assert role.strimzi and set(role.strimzi) <= places


def test_strimzi_refusals_follow_the_crds_forbidden_lists():
    assert strimzi_refusal("producer.linger.ms", "targetCluster") is None
    assert strimzi_refusal("ssl.protocol", "targetCluster") is None  # an allowed exception
    assert strimzi_refusal("sasl.jaas.config", "targetCluster")
    assert strimzi_refusal("producer.interceptor.classes", "targetCluster")
    assert strimzi_refusal("tasks.max", "sourceConnector")
    assert strimzi_refusal("consumer.interceptor.classes", "sourceConnector") is None


def test_an_override_strimzi_would_drop_is_refused_not_rendered():
    # Not reachable through the allow-list; a tuning built in code shows the guard holds.
    tuning = Mm2Tuning(60, 100, 4, 3, producer_overrides=(("interceptor.classes", "x.Y"),))
    for api in STRIMZI_APIS:
        with pytest.raises(InputError, match=r"producer\.interceptor\.classes") as err:
            strimzi_resources(topology(), settings().sites, tuning, kafka_version="4", api=api)
        assert "forbids" in str(err.value)


def test_replicate_render_strimzi_carries_the_settings_files_overrides(tmp_path):
    cfg = tmp_path / "streamdr.yaml"
    cfg.write_text(
        "version: 1\nsites:\n  primary: {bootstrap_servers: '127.0.0.1:1'}\n"
        "  dr: {bootstrap_servers: '127.0.0.1:2'}\n"
        f"metadata_db: {{url: 'sqlite:///{tmp_path}/m.db'}}\n"
        "replication:\n  mm2:\n    client_overrides:\n"
        "      consumer.fetch.max.bytes: 1048576\n      producer.compression.type: zstd\n"
    )
    args = ("replicate", "render", "--format", "strimzi", "--topics", "t", "--strimzi-api")
    for api in STRIMZI_APIS:
        proc = run_cli(*args, api, config=cfg)
        assert proc.returncode == 0, proc.stderr
        docs = list(YAML(typ="safe").load_all(proc.stdout))
        (into_dr,) = [d for d in docs if resource_target(d) == "dr"]
        assert target_config(into_dr)["producer.compression.type"] == "zstd"
        (mirror,) = [m for m in into_dr["spec"]["mirrors"] if "sourceConnector" in m]
        assert mirror["sourceConnector"]["config"]["consumer.fetch.max.bytes"] == 1048576
        assert mirror["checkpointConnector"]["config"]["consumer.fetch.max.bytes"] == 1048576
        assert validation_errors(docs) == []
