"""Appendix A config items of `check`: pure verdicts, and facts gathered from a real git repo."""

from datetime import UTC, datetime, timedelta

from streamdr.artifacts.layout import ARCHIVE_FILE, format_artifact_key
from streamdr.artifacts.service import open_registry
from streamdr.checks.config import (
    ConfigFacts,
    evaluate_artifacts,
    evaluate_config,
    gather_artifacts,
    gather_config,
)
from streamdr.checks.site import Status
from streamdr.harness.config_sandbox import Sandbox
from streamdr.objectstore.store import open_store
from streamdr.settings.loader import parse_settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.bundles import backup_repo
from streamdr.workflows.drift import Relation

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SETTINGS = """
sites:
  primary: {bootstrap_servers: "127.0.0.1:1"}
"""


def _facts(**over):
    base = {
        "relation": Relation.IN_SYNC,
        "backup_store": "backups",
        "newest_backup": NOW - timedelta(minutes=20),
        "backup_error": None,
        "rollback_drill": NOW - timedelta(days=3),
    }
    return ConfigFacts(**{**base, **over})


def _status(results):
    return {r.id: r.status for r in results}


def test_all_pass_when_deployed_backed_up_and_drilled():
    assert set(_status(evaluate_config(_facts(), NOW)).values()) == {Status.PASS}
    ahead = evaluate_config(_facts(relation=Relation.AHEAD), NOW)
    assert _status(ahead)["config.committed"] is Status.PASS


def test_each_item_fails_on_its_own_fact():
    for relation in (Relation.DEPLOYED_COMMIT_MISSING, Relation.DIVERGED, Relation.NOT_DEPLOYED):
        got = _status(evaluate_config(_facts(relation=relation), NOW))
        assert got["config.committed"] is Status.FAIL, relation
    stale = evaluate_config(_facts(newest_backup=NOW - timedelta(minutes=91)), NOW)
    assert _status(stale)["config.backup-hourly"] is Status.FAIL
    unset = evaluate_config(_facts(backup_store=None, newest_backup=None), NOW)
    assert unset[1].offenders == ("config_repo.backup_store",)
    broken = evaluate_config(_facts(backup_error="store unreachable"), NOW)
    assert broken[1].detail == "store unreachable"
    old_drill = evaluate_config(_facts(rollback_drill=NOW - timedelta(days=32)), NOW)
    assert _status(old_drill)["drills.rollback-recent"] is Status.FAIL
    never = evaluate_config(_facts(rollback_drill=None), NOW)
    assert never[2].detail == "never run"


def test_no_items_without_a_config_repository(tmp_path):
    settings = parse_settings(SETTINGS, str(tmp_path / "s.yaml"))
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)
    assert gather_config(settings, store) is None


def test_facts_come_from_the_repository_and_its_bundles():
    sandbox = Sandbox.create(parse_settings(SETTINGS, "s.yaml"))
    try:
        sandbox.commit_initial()
        facts = gather_config(sandbox.settings, sandbox.store)
        assert facts is not None
        assert facts.relation is Relation.NOT_DEPLOYED and facts.newest_backup is None
        manifest = backup_repo(
            sandbox.repo, open_store(sandbox.settings, "backups"), "test", now=NOW
        )
        facts = gather_config(sandbox.settings, sandbox.store)
        assert facts is not None and facts.newest_backup == manifest.created_at
        results = evaluate_config(facts, NOW + timedelta(minutes=5))
        assert _status(results)["config.backup-hourly"] is Status.PASS
        assert results[1].detail == "newest bundle 5 min old"
    finally:
        sandbox.close()


def test_artifacts_item_names_a_tampered_version():
    sandbox = Sandbox.create(parse_settings(SETTINGS, "s.yaml"))
    try:
        sandbox.publish_samples()
        facts = gather_artifacts(sandbox.settings)
        assert facts is not None and facts.verified == 2 and not facts.unverified
        assert evaluate_artifacts(facts).status is Status.PASS
        registry = open_registry(sandbox.settings)
        name, version = registry.versions()[0]
        key = format_artifact_key(name, version, ARCHIVE_FILE)
        data = bytearray(registry.store.get_bytes(key))
        data[len(data) // 2] ^= 0x01  # one flipped bit
        registry.store.put_bytes(key, bytes(data))
        facts = gather_artifacts(sandbox.settings)
        assert facts is not None and facts.unverified == (f"{name}@{version}",)
        result = evaluate_artifacts(facts)
        assert result.status is Status.FAIL and result.detail == "1 verified"
    finally:
        sandbox.close()
