"""Three-way drift against the real lab: deployed commit vs HEAD vs live topics, and reconcile."""

import json
import time
import uuid

import pytest

from streamdr.kafka.admin import KafkaAdmin
from tests.integration.config_env import make_env, workflow


@pytest.fixture
def env(tmp_path, lab_settings):
    sites = "".join(
        f"  {name}: {{bootstrap_servers: '{site.bootstrap_servers}'}}\n"
        for name, site in lab_settings.sites.items()
    )
    env = make_env(tmp_path / "env", sites=sites + "active_site: primary\n")
    env.publish("1.0.0")
    return env


def _drift(env, *args):
    proc = env.cli("config", "drift", "--json", *args)
    return proc.returncode, json.loads(proc.stdout)


def _until_clean(env, timeout=30.0):
    deadline = time.monotonic() + timeout
    code, doc = _drift(env)
    while code != 0 and time.monotonic() < deadline:
        time.sleep(1)
        code, doc = _drift(env)
    return code, doc


def test_drift_and_reconcile_on_the_lab(env, lab_settings):
    tag = uuid.uuid4().hex[:6]
    std, crit = f"drift-{tag}", f"crit-{tag}"
    env.commit(
        {
            f"workflows/client-a/{std}.yaml": workflow(std),
            f"workflows/client-a/{crit}.yaml": workflow(crit, tier="critical"),
        },
        "two workflows",
    )
    env.cli_json("config", "deploy", "--execute")
    primary = KafkaAdmin("primary", lab_settings.sites["primary"])
    dr = KafkaAdmin("dr", lab_settings.sites["dr"])
    std_topics = [f"retail.public.drift_{tag}", f"{std}.dlq"]
    crit_topics = [f"retail.public.crit_{tag}", f"{crit}.dlq"]
    try:
        code, doc = _drift(env)
        assert code == 1 and doc["relation"] == "in-sync"
        creates = {(a["site"], a["topic"]) for a in doc["live"] if a["action"] == "create"}
        assert creates == {("primary", t) for t in std_topics + crit_topics} | {
            ("dr", t) for t in crit_topics
        }
        code, doc = _drift(env, "--reconcile")
        assert len(doc["applied"]) == 6 and doc["manual"] == []
        code, doc = _until_clean(env)
        assert code == 0 and not doc["drift"], doc

        primary.alter_topic_config(f"{std}.dlq", {"min.insync.replicas": "1"})
        code, doc = _until_clean(env, timeout=0)
        assert code == 1
        assert [(a["topic"], a["action"], a["config"]) for a in doc["live"]] == [
            (f"{std}.dlq", "alter-config", {"min.insync.replicas": "2"})
        ]
        _drift(env, "--reconcile")
        assert primary.topic_configs([f"{std}.dlq"])[f"{std}.dlq"]["min.insync.replicas"] == "2"

        env.commit({f"workflows/client-b/new-{tag}.yaml": workflow(f"new-{tag}", "client-b")}, "x")
        code, doc = _until_clean(env, timeout=0)
        assert code == 1 and doc["relation"] == "ahead" and doc["ahead_by"] == 1
        assert doc["repo_changes"] == [
            {"path": f"workflows/client-b/new-{tag}.yaml", "change": "added"}
        ]
        assert doc["live"] == []  # undeployed workflows are not expected live
    finally:
        primary.delete_topics([t for t in std_topics + crit_topics if primary.topic(t)])
        dr.delete_topics([t for t in crit_topics if dr.topic(t)])
