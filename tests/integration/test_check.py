"""`streamdr check` against the real lab."""

import json
import uuid

from streamdr.checks.service import run_checks
from streamdr.kafka.admin import KafkaAdmin, TopicSpec
from streamdr.store.db import MetadataStore
from tests.conftest import run_cli

SKIP = {"drills.broker-failover-recent"}


def test_check_passes_on_the_lab(lab, lab_settings):
    results, code = run_checks(lab_settings, MetadataStore.from_settings(lab_settings), skip=SKIP)
    failed = [r for r in results if r.status != "pass"]
    assert code == 0, failed
    ids = {r.id for r in results}
    assert {"topics.replication-factor", "quorum.leader", "quorum.voters", "site.reachable"} <= ids


def test_check_names_a_topic_created_with_rf1(lab, lab_settings):
    name = f"it.rf1.{uuid.uuid4().hex[:6]}"
    admin = KafkaAdmin("primary", lab_settings.sites["primary"])
    admin.create_topics([TopicSpec(name, 1, 1, {"min.insync.replicas": "1"})])
    try:
        proc = run_cli("check", "--site", "primary", "--json", config=lab.settings_file)
        assert proc.returncode == 1, proc.stderr
        items = {i["id"]: i for i in json.loads(proc.stdout)["items"]}
        assert items["topics.replication-factor"]["status"] == "fail"
        assert f"{name} (RF 1)" in items["topics.replication-factor"]["offenders"]
        assert items["topics.min-insync-replicas"]["status"] == "fail"
        assert any(name in o for o in items["topics.min-insync-replicas"]["offenders"])
        assert items["partitions.offline"]["status"] == "pass"
    finally:
        admin.delete_topics([name])


def test_unreachable_site_exits_3(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"sites:\n  gone:\n    bootstrap_servers: 127.0.0.1:1\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n"
    )
    proc = run_cli("check", "--json", config=cfg)
    assert proc.returncode == 3, proc.stderr
    items = json.loads(proc.stdout)["items"]
    assert items[0]["id"] == "site.reachable" and items[0]["status"] == "fail"


def test_topics_ensure_creates_and_corrects(lab, tmp_path):
    name = f"it.declared.{uuid.uuid4().hex[:6]}"
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        lab.settings_file.read_text() + f"topics:\n  - name: {name}\n    partitions: 2\n"
        "    sites: [primary]\n"
    )
    planned = run_cli("topics", "ensure", "--json", config=cfg)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["applied"] == []  # a plan by default: nothing was changed
    assert [a["action"] for a in json.loads(planned.stdout)["plan"]] == ["create"]
    proc = run_cli("topics", "ensure", "--execute", "--json", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert [a["action"] for a in json.loads(proc.stdout)["applied"]] == ["create"]
    from streamdr.settings import load_settings

    settings = load_settings(cfg)
    admin = KafkaAdmin("primary", settings.sites["primary"])
    try:
        admin.alter_topic_config(name, {"min.insync.replicas": "1"})
        cfg.write_text(cfg.read_text().replace("partitions: 2", "partitions: 4"))
        proc = run_cli("topics", "ensure", "--execute", "--json", config=cfg)
        applied = {a["action"]: a for a in json.loads(proc.stdout)["applied"]}
        assert applied["alter-config"]["config"] == {"min.insync.replicas": "2"}
        assert applied["add-partitions"]["partitions"] == 4
        assert len(admin.topic(name).partitions) == 4
        assert admin.topic_configs([name])[name]["min.insync.replicas"] == "2"
        again = run_cli("topics", "ensure", "--json", config=cfg)
        assert json.loads(again.stdout)["plan"] == []
    finally:
        admin.delete_topics([name])
