"""`render k8s`: Kubernetes objects built as data, validated offline (Kubernetes + Strimzi)."""

import copy

import pytest
from ruamel.yaml import YAML

from streamdr.deploy.k8s import K8sOptions, WorkflowRef, dns_name, render_objects
from streamdr.deploy.validate import KUBERNETES_VERSION, validation_errors
from streamdr.errors import InputError
from streamdr.policy.tiers import Tier
from streamdr.replication.mm2.config import Mm2Tuning
from streamdr.replication.mm2.strimzi import render_yaml, resource_target, strimzi_resources
from streamdr.replication.topology import ReplicatedSet, plan_topology
from streamdr.settings.loader import parse_settings
from tests.conftest import run_cli

SETTINGS = parse_settings(
    """
version: 1
sites:
  primary:
    bootstrap_servers: "kafka-a.example:9093"
    security: {protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-512, sasl_username: streamdr,
               sasl_password_env: KAFKA_PW, ssl_ca_location: /etc/streamdr/ca.pem}
  dr: {bootstrap_servers: "kafka-b.example:9093"}
""",
    "s.yaml",
)
WORKFLOWS = (
    WorkflowRef("payments", Tier.CRITICAL),
    WorkflowRef("orders", Tier.STANDARD),
    WorkflowRef("orders_audit", Tier.STANDARD),
    WorkflowRef("reports", Tier.NON_CRITICAL),
)
IMAGE = "registry.example/streamdr@sha256:" + "0" * 64


def mm2(target: str, api: str = "v1") -> list[dict]:
    sets = [ReplicatedSet("orders", Tier.STANDARD, ("retail.orders",), ("orders",), 300.0)]
    topo = plan_topology(
        sets,
        ["primary", "dr"],
        home="primary",
        active="primary",
        separator="_",
        emit_interval=lambda rpo: rpo / 10,
    )
    tuning = Mm2Tuning(
        refresh_interval_seconds=60, offset_lag_max=100, tasks_max=4, replication_factor=3
    )
    found = strimzi_resources(topo, SETTINGS.sites, tuning, kafka_version="4.1.2", api=api)
    return [r for r in found if resource_target(r) == target]


def render(api: str = "v1", **kw) -> list[dict]:
    opts = K8sOptions(site="dr", image=IMAGE, workflows=WORKFLOWS, sources=("shop_db",), **kw)
    return render_objects(opts, mm2(opts.site, api))


def by_name(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_rendered_region_validates_against_kubernetes_and_strimzi_schemas():
    for per, api in (("tier", "v1"), ("workflow", "v1"), ("tier", "v1beta2")):
        objects = render(api, per=per)
        assert validation_errors(objects) == [], (KUBERNETES_VERSION, api)
    kinds = {o["kind"] for o in render()}
    assert kinds == {"Deployment", "Service", "PodDisruptionBudget", "KafkaMirrorMaker2"}


def test_workers_per_tier_carry_the_strategys_probes_resources_and_replicas():
    deps = by_name(render(), "Deployment")
    assert set(deps) == {
        "streamdr-worker-critical",
        "streamdr-worker-standard",
        "streamdr-worker-non-critical",
        "streamdr-cdc-shop-db",
        "streamdr-serve",
        "streamdr-backup",
    }
    std = deps["streamdr-worker-standard"]
    pod = std["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][-4:] == ["--workflow", "orders", "--workflow", "orders_audit"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "1Gi"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert [
        deps[f"streamdr-worker-{t}"]["spec"]["replicas"]
        for t in ("critical", "standard", "non-critical")
    ] == [3, 2, 1]


def test_cdc_reader_is_a_single_recreated_pod_and_singletons_get_no_pdb():
    objects = render()
    cdc = by_name(objects, "Deployment")["streamdr-cdc-shop-db"]
    assert cdc["spec"]["replicas"] == 1 and cdc["spec"]["strategy"] == {"type": "Recreate"}
    pdbs = by_name(objects, "PodDisruptionBudget")
    assert "streamdr-cdc-shop-db" not in pdbs and "streamdr-worker-non-critical" not in pdbs
    assert pdbs["streamdr-worker-critical"]["spec"]["maxUnavailable"] == 1
    assert "streamdr-serve" in by_name(objects, "Service")
    assert "streamdr-backup" not in by_name(objects, "Service")  # no HTTP endpoint


def test_secrets_are_referenced_never_inlined():
    text = render_yaml(render())
    assert "KAFKA_PW" not in text  # the env var comes from the Secret, by reference
    dep = by_name(render(), "Deployment")["streamdr-serve"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "streamdr-env"}}]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["signing-keys"]["secret"] == {"secretName": "streamdr-signing-keys"}
    assert volumes["config"]["configMap"] == {"name": "streamdr-config"}


def test_standby_region_keeps_workers_cdc_and_backup_at_zero():
    deps = by_name(render(standby=True), "Deployment")
    assert {n: d["spec"]["replicas"] for n, d in deps.items() if n != "streamdr-serve"} == {
        n: 0 for n in deps if n != "streamdr-serve"
    }


def test_strimzi_resource_is_the_one_next_to_the_region_and_in_its_namespace():
    (kmm2,) = by_name(render(namespace="dr-platform"), "KafkaMirrorMaker2").values()
    assert kmm2["apiVersion"] == "kafka.strimzi.io/v1"
    assert kmm2["spec"]["target"]["alias"] == "dr"
    assert kmm2["metadata"]["namespace"] == "dr-platform"
    (old,) = by_name(render("v1beta2"), "KafkaMirrorMaker2").values()
    assert old["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert old["spec"]["connectCluster"] == "dr"
    docs = list(YAML(typ="safe").load_all(render_yaml(render())))
    assert [d["kind"] for d in docs].count("KafkaMirrorMaker2") == 1


def test_validation_reports_broken_objects_by_kind_and_name():
    objects = render()
    broken = copy.deepcopy(objects)
    dep = next(o for o in broken if o["kind"] == "Deployment")
    dep["spec"]["replicas"] = "three"
    kmm2 = next(o for o in broken if o["kind"] == "KafkaMirrorMaker2")
    kmm2["spec"]["mirrors"][0]["source"]["authentication"] = {"type": "kerberos"}
    kmm2["spec"]["mirrors"][0]["sourceConnector"]["tasksMax"] = 0
    errors = validation_errors(broken)
    assert any(e.startswith("Deployment/streamdr-worker-critical: spec/replicas") for e in errors)
    assert any("mirrors/0/source/authentication/type" in e for e in errors)
    assert any("sourceConnector/tasksMax" in e for e in errors)
    dep["spec"]["replicas"] = 3
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/"
    assert any("paht" in e for e in validation_errors([dep]))  # strict: unknown fields


def test_bad_names_and_modes_are_input_errors():
    with pytest.raises(InputError, match="--per"):
        K8sOptions(site="dr", image=IMAGE, per="pod")
    with pytest.raises(InputError, match="not a Kubernetes name"):
        K8sOptions(site="DR_1", image=IMAGE)
    assert dns_name("streamdr", "worker", "Orders_Audit") == "streamdr-worker-orders-audit"
    with pytest.raises(InputError, match="63"):
        dns_name("x" * 70)


def test_render_k8s_command_prints_valid_yaml_for_a_region(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "sites:\n  primary: {bootstrap_servers: '127.0.0.1:1'}\n"
        "  dr: {bootstrap_servers: '127.0.0.1:2'}\n"
        f"metadata_db: {{url: 'sqlite:///{tmp_path}/m.db'}}\n"
        "sources:\n  shop: {dsn: host=db, password_env: SHOP_PW, topic_prefix: shop, site: dr}\n"
    )
    args = ("render", "k8s", "--image", IMAGE, "--site", "dr", "--namespace", "dr-ns")
    proc = run_cli(*args, config=cfg)
    assert proc.returncode == 0, proc.stderr
    docs = list(YAML(typ="safe").load_all(proc.stdout))
    assert validation_errors(docs) == []
    assert by_name(docs, "KafkaMirrorMaker2") == {}  # nothing deployed: nothing to mirror
    cdc = by_name(docs, "Deployment")["streamdr-cdc-shop"]
    assert cdc["metadata"]["namespace"] == "dr-ns"
    assert cdc["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["cdc", "run", "shop"]
    bad = run_cli("render", "k8s", "--image", IMAGE, "--site", "nowhere", config=cfg)
    assert bad.returncode == 2 and "Error:" in bad.stderr
    bad = run_cli(*args, "--strimzi-api", "v1alpha1", config=cfg)
    assert bad.returncode == 2 and "v1alpha1" in bad.stderr and "Hint:" in bad.stderr
