"""The broker-failover drill on the real lab, through the CLI."""

import json

from tests.conftest import run_cli

REQUIRED = {
    "scenario",
    "passed",
    "rto_seconds",
    "rpo_messages_lost",
    "acked",
    "consumed",
    "catch_up_seconds",
    "targets",
    "steps",
}


def test_broker_failover_drill_passes_and_is_stored(lab):
    proc = run_cli("drill", "run", "broker-failover", "--json", config=lab.settings_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) >= REQUIRED
    assert report["passed"] is True
    assert report["rpo_messages_lost"] == 0
    assert 0 < report["rto_seconds"] < 60
    assert report["acked"] > 0 and report["consumed"] >= report["acked"]
    assert report["catch_up_seconds"] is not None
    assert all(step["started_at"] and step["finished_at"] for step in report["steps"])

    history = json.loads(run_cli("drill", "history", "--json", config=lab.settings_file).stdout)
    assert history[0]["id"] == report["id"]
    assert history[0]["scenario"] == "broker-failover"

    proc = run_cli("check", "--json", config=lab.settings_file)
    items = {i["id"]: i for i in json.loads(proc.stdout)["items"]}
    assert items["drills.broker-failover-recent"]["status"] == "pass"
