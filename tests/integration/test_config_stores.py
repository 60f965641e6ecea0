"""Artifacts and config backups on real object stores: a local directory and the S3 API server."""

import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from streamdr.artifacts.api import ChangeEvent
from streamdr.artifacts.layout import ARCHIVE_FILE, format_artifact_key
from streamdr.artifacts.loader import load_transform
from streamdr.objectstore.store import open_store
from streamdr.settings import load_settings
from streamdr.workflows.model import TransformationRef
from tests.integration.config_env import make_env, workflow
from tests.unit.test_cli_errors import assert_clean_error

A = "workflows/client-a/orders.yaml"
EVENT = ChangeEvent(
    "e",
    "s",
    "public.t",
    "insert",
    {"id": 1},
    None,
    {"id": 1},
    datetime(2026, 1, 1, tzinfo=UTC),
    "0/1",
)


@pytest.fixture(params=["local", "s3"])
def env(request, tmp_path):
    if request.param == "local":
        return make_env(tmp_path / "env")
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("s3_server")
    return make_env(
        tmp_path / "env",
        registry=f"s3://{bucket}/registry",
        backups=f"s3://{bucket}/backups",
        endpoint=endpoint,
    )


def _flip_byte(settings, store, key):
    s = open_store(settings, store)
    data = bytearray(s.get_bytes(key))
    data[len(data) // 2] ^= 0x01
    s.put_bytes(key, bytes(data))


def test_publish_verify_load_and_tamper(env):
    env.publish("1.0.0")
    listed = env.cli_json("artifacts", "list")
    assert [(r["artifact"], r["location"]) for r in listed] == [("enrich@1.0.0", "registry")]
    assert env.cli_json("artifacts", "verify", "enrich@1.0.0")["verified"]
    settings = load_settings(env.config)
    transform = load_transform(settings, TransformationRef(name="enrich", version="1.0.0"))
    assert transform(EVENT)[0].payload == {"v": "1.0.0"}
    republish = env.cli(
        "artifacts",
        "publish",
        str(env.root / "src" / "enrich-1.0.0"),
        "--name",
        "enrich",
        "--version",
        "1.0.0",
    )
    assert_clean_error(republish, 2)
    assert "immutable" in republish.stderr
    _flip_byte(settings, "registry", format_artifact_key("enrich", "1.0.0", ARCHIVE_FILE))
    refused = env.cli("artifacts", "verify", "enrich@1.0.0")
    assert_clean_error(refused, 2)
    assert "tampered" in refused.stderr
    env.commit({A: workflow("orders")}, "uses the tampered artifact")
    deploy = env.cli("config", "deploy", "--execute")
    assert_clean_error(deploy, 2)
    assert f"{A}:9:3: transformation.version" in deploy.stderr


def test_unknown_signing_key_is_refused(env):
    proc = env.cli("keys", "generate", "--out", str(env.root / "keys" / "rogue"))
    assert proc.returncode == 0
    src = env.root / "src" / "x"
    src.mkdir(parents=True)
    (src / "transform.py").write_text("def transform(event):\n    return []\n")
    proc = env.cli(
        "artifacts",
        "publish",
        str(src),
        "--name",
        "enrich",
        "--version",
        "1.0.0",
        "--key",
        str(env.root / "keys" / "rogue.key"),
    )
    assert_clean_error(proc, 2)
    assert "not among the trusted keys" in proc.stderr
    assert env.cli_json("artifacts", "list") == []


def test_bundle_round_trip_and_corruption(env):
    env.commit({A: workflow("orders")}, "one workflow")
    env.git("tag", "v1")
    head = env.git("rev-parse", "HEAD")
    backup = env.cli_json("config", "backup")
    assert backup["head"] == head and set(backup["refs"]) == {"refs/heads/main", "refs/tags/v1"}
    listed = env.cli_json("config", "backups")
    assert [b["bundle_key"] for b in listed] == [backup["bundle_key"]]
    exists = env.cli("config", "restore-bundle")
    assert_clean_error(exists, 2)
    subprocess.run(["rm", "-rf", str(env.repo)], check=True)
    restored = env.cli_json("config", "restore-bundle", "--execute")
    assert restored["executed"] and restored["head"] == head
    assert env.git("rev-parse", "HEAD") == head and env.git("rev-parse", "v1") == head
    assert (env.repo / A).read_text() == workflow("orders")
    assert env.git("config", "core.logAllRefUpdates") == "always"
    _flip_byte(load_settings(env.config), "backups", backup["bundle_key"])
    corrupt = env.cli(
        "config", "restore-bundle", "--execute", "--replace", "--to", str(env.root / "other")
    )
    assert_clean_error(corrupt, 2)
    assert "corrupted" in corrupt.stderr
    assert not (env.root / "other").exists()


def test_apply_retention_with_a_fixed_clock(tmp_path):
    env = make_env(tmp_path / "env")
    env.publish("1.0.0")
    env.publish("1.1.0")
    env.commit({A: workflow("orders")}, "pins 1.0.0")
    env.cli_json("config", "deploy", "--execute")
    later = (datetime.now(UTC) + timedelta(days=100)).isoformat()
    dry = env.cli_json("artifacts", "apply-retention", "--now", later, "--dry-run")
    plan = {a["artifact"]: a["action"] for a in dry["plan"]}
    assert plan == {"enrich@1.0.0": "keep", "enrich@1.1.0": "archive"}
    assert dry["done"] == [] and len(env.cli_json("artifacts", "list")) == 2
    run = env.cli_json("artifacts", "apply-retention", "--now", later, "--execute")
    assert [d["artifact"] for d in run["done"]] == ["enrich@1.1.0"]
    where = {r["artifact"]: r["location"] for r in env.cli_json("artifacts", "list")}
    assert where == {"enrich@1.0.0": "registry", "enrich@1.1.0": "archive"}
    assert env.cli_json("artifacts", "verify", "enrich@1.1.0", "--archive")["verified"]
    assert_clean_error(env.cli("artifacts", "verify", "enrich@1.1.0"), 2)
    much_later = (datetime.now(UTC) + timedelta(days=365 * 8)).isoformat()
    final = env.cli_json("artifacts", "apply-retention", "--now", much_later, "--execute")
    assert [(d["artifact"], d["action"]) for d in final["done"]] == [("enrich@1.1.0", "delete")]
    assert [r["artifact"] for r in env.cli_json("artifacts", "list")] == ["enrich@1.0.0"]
    bad = env.cli("artifacts", "apply-retention", "--now", "yesterday")
    assert_clean_error(bad, 2)


def test_archived_version_can_be_restored(tmp_path):
    env = make_env(tmp_path / "env")
    env.publish("1.0.0")
    later = (datetime.now(UTC) + timedelta(days=91)).isoformat()
    env.cli_json("artifacts", "apply-retention", "--now", later, "--execute")
    assert env.cli_json("artifacts", "restore", "enrich@1.0.0")["restored"]
    assert env.cli_json("artifacts", "verify", "enrich@1.0.0")["verified"]
