"""Config repository end to end, real git and the CLI: deploy, rollback, recover."""

import json
import subprocess

import pytest

from tests.integration.config_env import make_env, workflow
from tests.unit.test_cli_errors import assert_clean_error

A = "workflows/client-a/orders.yaml"
B = "workflows/client-a/returns.yaml"
C = "workflows/client-b/stock.yaml"


@pytest.fixture
def env(tmp_path):
    env = make_env(tmp_path / "env")
    env.publish("1.0.0")
    return env


@pytest.fixture
def deployed(env):
    """Two workflows committed and deployed; returns the commit."""
    commit = env.commit({A: workflow("orders"), B: workflow("returns")}, "two workflows")
    doc = env.cli_json("config", "deploy", "--execute")
    assert doc["deployed"] and doc["commit"] == commit
    return commit


def test_deploy_records_commit_time_and_who(env, deployed):
    history = env.cli_json("config", "history")
    assert len(history) == 1
    assert history[0]["commit"] == deployed and history[0]["deployed_by"] == "tester@ci"
    assert history[0]["deployed_at"] and history[0]["artifacts"] == ["enrich@1.0.0"]
    again = env.cli_json("config", "deploy", "--execute")
    assert again["already_deployed"] and not again["deployed"]
    assert [w["name"] for w in env.cli_json("workflows", "list")] == ["orders", "returns"]


def test_one_invalid_file_deploys_nothing_and_every_error_is_listed(env, deployed):
    env.commit(
        {
            A: workflow("orders", tier="critical", rto="5m"),  # above the critical limit
            B: workflow("returns", version="2.0.0"),  # no such artifact version
            C: workflow("stock", client="client-b") + "colour: blue\n",  # unknown field
        },
        "three problems",
    )
    proc = env.cli("config", "deploy", "--execute")
    assert_clean_error(proc, 2)
    for where in (f"{A}:12:1: rto:", f"{B}:9:3: transformation.version:", f"{C}:12:1: colour:"):
        assert where in proc.stderr, proc.stderr
    assert "Nothing was deployed" in proc.stderr
    assert [d["commit"] for d in env.cli_json("config", "history")] == [deployed]
    validate = env.cli("workflows", "validate", "--json")
    assert validate.returncode == 2
    assert len(json.loads(validate.stdout)["errors"]) == 3


def test_bad_rev_and_empty_tree_are_refused(env, deployed):
    proc = env.cli("config", "deploy", "--execute", "--rev", "does-not-exist")
    assert_clean_error(proc, 2)
    assert "does not exist" in proc.stderr
    env.commit({A: None, B: None}, "delete everything")
    proc = env.cli("config", "deploy", "--execute")
    assert_clean_error(proc, 2)
    assert "config recover" in proc.stderr
    assert len(env.cli_json("config", "history")) == 1


def test_config_rollback_is_a_new_commit_then_deploy(env, deployed):
    second = env.commit({C: workflow("stock", client="client-b")}, "add stock")
    env.cli_json("config", "deploy", "--execute")
    result = env.cli_json("config", "rollback", "--execute", "--steps", "1")
    assert result["target"] == deployed and result["deployment"]["kind"] == "rollback"
    head = env.git("rev-parse", "HEAD")
    assert head == result["new_commit"] and env.git("rev-parse", "HEAD~1") == second
    assert not (env.repo / C).exists()  # the work tree follows the branch
    assert result["deployment"]["files"] == [A, B]
    forward = env.cli_json("config", "rollback", "--execute", "--to", second)
    assert forward["deployment"]["files"] == [A, B, C]
    kinds = [d["kind"] for d in env.cli_json("config", "history")]
    assert kinds == ["rollback", "rollback", "deploy", "deploy"]


def test_transformation_rollback(env):
    env.publish("1.1.0")
    env.commit(
        {A: workflow("orders", version="1.1.0"), B: workflow("returns", version="1.1.0")}, "v1.1"
    )
    env.cli_json("config", "deploy", "--execute")
    missing = env.cli("rollback", "--execute", "orders", "--to-version", "0.9.0")
    assert_clean_error(missing, 2)
    assert f"{A}:9:3: transformation.version" in missing.stderr
    result = env.cli_json("rollback", "--execute", "orders", "--to-version", "1.0.0")
    assert result["from_version"] == "1.1.0" and result["to_version"] == "1.0.0"
    assert result["deployment"]["kind"] == "transform-rollback"
    assert result["deployment"]["detail"]["requested_at"]
    assert [s["name"] for s in result["steps"]] == [
        "edit and validate the tree",
        "commit on the branch",
        "validate and deploy",
    ]
    assert "version: 1.0.0" in (env.repo / A).read_text()
    assert "version: 1.1.0" in (env.repo / B).read_text()
    assert "roll back orders" in env.git("log", "-1", "--format=%s")
    env.commit({C: workflow("stock", client="client-b")}, "undeployed change")
    assert_clean_error(env.cli("rollback", "--execute", "returns", "--to-version", "1.0.0"), 2)
    ok = env.cli_json(
        "rollback", "--execute", "returns", "--to-version", "1.0.0", "--include-undeployed"
    )
    assert C in ok["deployment"]["files"]


def test_recover_after_a_hard_reset(env, deployed):
    tip = env.commit({C: workflow("stock", client="client-b")}, "undeployed tip")
    env.git("reset", "-q", "--hard", "HEAD~2")
    assert not (env.repo / A).exists()
    dry = env.cli_json("config", "recover")
    assert dry["needed"] and not dry["executed"] and dry["target"] == tip
    assert env.git("rev-parse", "HEAD") != tip  # a dry run changes nothing
    done = env.cli_json("config", "recover", "--execute")
    assert done["executed"] and done["verification"]["ok"]
    assert done["verification"]["last_good"]["differs_from_snapshot"] == []
    assert env.git("rev-parse", "HEAD") == tip and (env.repo / A).exists()
    assert env.cli_json("config", "recover")["needed"] is False
    events = env.cli_json("config", "history", "--events")
    assert events[0]["kind"] == "recover" and events[0]["ok"]


def test_recover_after_objects_were_garbage_collected(env, deployed):
    deployed_text = (env.repo / A).read_text()
    env.git("checkout", "-q", "--orphan", "rewrite")
    env.git("rm", "-rq", "--cached", ".")
    (env.repo / A).unlink()
    (env.repo / B).unlink()
    env.commit({"README.md": "force-pushed history\n"}, "unrelated")
    env.git("branch", "-M", "rewrite", "main")
    env.git("reflog", "expire", "--expire=now", "--all")
    env.git("gc", "-q", "--prune=now")
    gone = subprocess.run(["git", "-C", str(env.repo), "cat-file", "-e", deployed], check=False)
    assert gone.returncode != 0  # the deployed commit object no longer exists
    proc = env.cli("config", "recover", "--execute", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["source"] == "snapshot" and doc["verification"]["ok"]
    assert (env.repo / A).read_text() == deployed_text
    assert (env.repo / "README.md").exists()  # the rest of the branch is kept


def test_sections_missing(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"sites:\n  p: {{bootstrap_servers: '127.0.0.1:1'}}\nmetadata_db: {{url: 'sqlite:///{tmp_path}/m.db'}}\n"
    )
    from tests.conftest import run_cli

    proc = run_cli("config", "deploy", "--execute", config=cfg)
    assert_clean_error(proc, 2)
    assert "config_repo" in proc.stderr
    proc = run_cli("artifacts", "list", config=cfg)
    assert_clean_error(proc, 2)
    assert "artifacts" in proc.stderr


def test_recover_refuses_an_invalid_tip_and_restores_the_deployed_commit(env, deployed):
    env.commit({C: workflow("stock", client="client-b") + "colour: blue\n"}, "invalid tip")
    env.git("reset", "-q", "--hard", "HEAD~2")
    refused = env.cli("config", "recover", "--execute")
    assert_clean_error(refused, 2)
    assert "--to-deployed" in refused.stderr and "colour: unknown field" in refused.stderr
    done = env.cli_json("config", "recover", "--execute", "--to-deployed")
    assert done["source"] == "deployment" and done["verification"]["ok"]
    assert env.git("rev-parse", "HEAD") == deployed
