"""The config drills through the CLI: both pass, report RTO/RPO and are stored in the history."""

import json

from streamdr.objectstore.store import open_store
from streamdr.settings import load_settings
from tests.integration.config_env import make_env


def _run(env, name):
    proc = env.cli("drill", "run", name, "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def test_config_rollback_drill(tmp_path):
    env = make_env(tmp_path / "env")
    report = _run(env, "config-rollback")
    assert report["passed"] and report["failures"] == []
    assert 0 < report["rto_seconds"] < report["targets"]["rto_seconds"]
    assert report["rpo_seconds"] == 0.0
    assert report["invalid_config"]["errors_reported"] == 3
    assert report["invalid_config"]["nothing_deployed"]
    assert report["breaking_config_detected"] == ["orders-to-crm"]
    assert not (tmp_path / "env" / "registry" / "_drills").exists()  # sandbox cleaned up
    history = env.cli_json("drill", "history", "--scenario", "config-rollback")
    assert [h["id"] for h in history] == [report["id"]]
    assert env.cli_json("config", "history") == []  # the production config was not touched


def test_repo_recovery_drill_with_an_s3_registry(tmp_path, s3_bucket, s3_server):
    env = make_env(tmp_path / "env", registry=f"s3://{s3_bucket}/registry", endpoint=s3_server)
    report = _run(env, "repo-recovery")
    assert report["passed"], report["failures"]
    assert report["rpo_seconds"] == 0.0
    reflog = report["reflog_recovery"]
    assert reflog["relation_detected"] == "behind" and reflog["restored_pre_incident_tip"]
    assert reflog["commits_lost"] == 0 and reflog["files_missing_or_different"] == []
    assert report["bundle_recovery"]["head_matches_backup"]
    registry = open_store(load_settings(env.config), "registry")
    assert registry.list("_drills") == []  # the sandbox's objects were removed from the bucket
    history = env.cli_json("drill", "history", "--scenario", "repo-recovery")
    assert history[0]["id"] == report["id"] and history[0]["passed"]
