"""The alert rules of `render prometheus-rules`, checked and unit-tested by promtool.

Each alert has one test group where it fires and one where it stays quiet. promtool compares
annotations too; their templates are checked by ``promtool check rules``, so the unit tests run
on the same rules with annotations removed and compare labels only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from streamdr.observe.alerts import REQUIRED_DRILLS, AlertThresholds, alert_rules, render_rules
from streamdr.observe.grafana import render_dashboard

LAG = "streamdr_replication_lag_seconds"
PASSED = "streamdr_drill_last_passed_timestamp_seconds"
OLD = "-9000000"  # a Unix time far enough before the test's clock (0 + eval time) to be overdue
RECENT = "0"

# alert → (series when it fires, series when it does not, labels of the firing alert)
CASES: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, str]]] = {
    "StreamdrReplicationLagWarning": (
        [(f'{LAG}{{topic="orders",tier="standard"}}', "400")],
        [(f'{LAG}{{topic="orders",tier="standard"}}', "700")],
        {"topic": "orders", "tier": "standard"},
    ),
    "StreamdrReplicationLagCritical": (
        [(f'{LAG}{{topic="orders",tier="critical"}}', "700")],
        [(f'{LAG}{{topic="orders",tier="critical"}}', "400")],
        {"topic": "orders", "tier": "critical"},
    ),
    "StreamdrDrClusterUnavailable": (
        [('streamdr_site_up_ratio{site="dr",role="standby"}', "0")],
        [('streamdr_site_up_ratio{site="dr",role="standby"}', "1")],
        {"site": "dr", "role": "standby"},
    ),
    "StreamdrBackupStale": (
        [('streamdr_backup_age_seconds{kind="topics"}', "90000")],
        [('streamdr_backup_age_seconds{kind="topics"}', "3600")],
        {"kind": "topics"},
    ),
    "StreamdrDrillOverdue": (
        [('streamdr_drill_last_run_timestamp_seconds{scenario="site-failover"}', "-7800000")],
        [('streamdr_drill_last_run_timestamp_seconds{scenario="site-failover"}', RECENT)],
        {"scenario": "site-failover"},
    ),
    "StreamdrDrillRtoAboveTarget": (
        [
            ('streamdr_drill_rto_seconds{scenario="site-failover"}', "2000"),
            ('streamdr_drill_rto_target_seconds{scenario="site-failover"}', "1800"),
        ],
        [
            ('streamdr_drill_rto_seconds{scenario="site-failover"}', "100"),
            ('streamdr_drill_rto_target_seconds{scenario="site-failover"}', "1800"),
        ],
        {"scenario": "site-failover"},
    ),
    "StreamdrDrillRpoAboveTarget": (
        [
            ('streamdr_drill_rpo_seconds{scenario="site-failover"}', "400"),
            ('streamdr_drill_rpo_target_seconds{scenario="site-failover"}', "300"),
        ],
        [
            ('streamdr_drill_rpo_seconds{scenario="site-failover"}', "0"),
            ('streamdr_drill_rpo_target_seconds{scenario="site-failover"}', "300"),
        ],
        {"scenario": "site-failover"},
    ),
    "StreamdrReplicationLagAboveOneMinute": (
        [(f'{LAG}{{topic="orders",tier="standard"}}', "90")],
        [(f'{LAG}{{topic="orders",tier="standard"}}', "30")],
        {"topic": "orders", "tier": "standard"},
    ),
    "StreamdrLagSamplesStale": (
        [("streamdr_replication_lag_sample_age_seconds", "900")],
        [("streamdr_replication_lag_sample_age_seconds", "5")],
        {},
    ),
    "StreamdrFailoverDrillOverdue": (
        [(f'{PASSED}{{scenario="broker-failover"}}', OLD)],
        [
            (f'{PASSED}{{scenario="broker-failover"}}', OLD),
            (f'{PASSED}{{scenario="site-failover"}}', RECENT),
        ],
        {},
    ),
    "StreamdrConfigBackupOverdue": (
        [('streamdr_backup_age_seconds{kind="config_repository"}', "7200")],
        [('streamdr_backup_age_seconds{kind="config_repository"}', "1800")],
        {"kind": "config_repository"},
    ),
    "StreamdrRollbackDrillOverdue": (
        [(f'{PASSED}{{scenario="config-rollback"}}', OLD)],
        [(f'{PASSED}{{scenario="workflow-failure"}}', RECENT)],
        {},
    ),
    "StreamdrMetadataDbBackupOverdue": (
        [('streamdr_backup_age_seconds{kind="metadata_db"}', "1200")],
        [('streamdr_backup_age_seconds{kind="metadata_db"}', "120")],
        {"kind": "metadata_db"},
    ),
    "StreamdrRestoreDrillOverdue": (
        [(f'{PASSED}{{scenario="topic-restore"}}', "-9000000")],
        [(f'{PASSED}{{scenario="topic-restore"}}', "-10000")],
        {},
    ),
    "StreamdrWorkersBelowMinimum": (
        [
            (f'streamdr_worker_assigned_partitions_count{{workflow="w",instance="{i}"}}', "2")
            for i in "ab"
        ],
        [
            (f'streamdr_worker_assigned_partitions_count{{workflow="w",instance="{i}"}}', "2")
            for i in "abc"
        ],
        {"workflow": "w"},
    ),
    "StreamdrCdcLagHigh": (
        [('streamdr_cdc_lag_seconds{source="shop"}', "900")],
        [('streamdr_cdc_lag_seconds{source="shop"}', "30")],
        {"source": "shop"},
    ),
    "StreamdrCdcSourceDown": (
        [('streamdr_cdc_source_up_ratio{source="shop"}', "0")],
        [('streamdr_cdc_source_up_ratio{source="shop"}', "1")],
        {"source": "shop"},
    ),
    "StreamdrDeliveryBreakerOpen": (
        [('streamdr_delivery_breaker_state_code{workflow="w"}', "2")],
        [('streamdr_delivery_breaker_state_code{workflow="w"}', "1")],
        {"workflow": "w"},
    ),
    "StreamdrFailoverInProgress": (
        [("streamdr_failover_in_progress_ratio", "1")],
        [("streamdr_failover_in_progress_ratio", "0")],
        {},
    ),
    "StreamdrTierNotReady": (
        [('streamdr_readiness_ratio{tier="critical"}', "0")],
        [('streamdr_readiness_ratio{tier="critical"}', "0.5")],
        {"tier": "critical"},
    ),
}
CASES |= {
    "StreamdrBackupMissing": (
        [('streamdr_backup_configured_ratio{kind="metadata_db"}', "1")],
        [
            ('streamdr_backup_configured_ratio{kind="metadata_db"}', "1"),
            ('streamdr_backup_age_seconds{kind="metadata_db"}', "120"),
        ],
        {"kind": "metadata_db"},
    ),
    "StreamdrBackupNotConfigured": (
        [('streamdr_backup_configured_ratio{kind="metadata_db"}', "0")],
        [('streamdr_backup_configured_ratio{kind="metadata_db"}', "1")],
        {"kind": "metadata_db"},
    ),
}
# More cases of alerts above: the metadata DB's backup age goes through the Appendix B alert too.
MORE_CASES = [
    (
        "StreamdrBackupStale",
        [('streamdr_backup_age_seconds{kind="metadata_db"}', "90000")],
        [('streamdr_backup_age_seconds{kind="metadata_db"}', "0")],
        {"kind": "metadata_db"},
    ),
]
LAST_RUN = "streamdr_drill_last_run_timestamp_seconds"
# A counter: rising fires, flat does not (its values are a series expression, not a constant).
COUNTER_CASES = {
    "StreamdrDeadLetters": (
        [('streamdr_dlq_records_total{workflow="w",stage="deliver"}', "0+1x30")],
        [('streamdr_dlq_records_total{workflow="w",stage="deliver"}', "5+0x30")],
        {"workflow": "w", "stage": "deliver"},
    )
}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is missing: run scripts/ensure-debian-packages (Debian package `prometheus`)"
        )
    return path


def _group(alert: str, series: list[tuple[str, str]], labels: dict[str, str] | None) -> dict:
    expected = [] if labels is None else [{"exp_labels": {**labels, "severity": _severity(alert)}}]
    return {
        "interval": "1m",
        "input_series": [
            {"series": s, "values": v if "x" in v else f"{v}+0x30"} for s, v in series
        ],
        "alert_rule_test": [{"eval_time": "20m", "alertname": alert, "exp_alerts": expected}],
    }


def _severity(alert: str) -> str:
    return next(r.severity for r in alert_rules() if r.name == alert)


def _write(tmp_path: Path, doc: object, name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))  # JSON is YAML; promtool reads it as such
    return path


def _unit_rules(tmp_path: Path) -> Path:
    doc = YAML(typ="safe", pure=True).load(render_rules())
    for rule in doc["groups"][0]["rules"]:
        rule.pop("annotations")
    return _write(tmp_path, doc, "rules.json")


def test_every_alert_has_a_firing_and_a_quiet_case():
    never_run = {"StreamdrDrillNeverRun"}  # tested by test_promtool_drills_that_never_ran_fire
    assert {r.name for r in alert_rules()} == set(CASES) | set(COUNTER_CASES) | never_run


def test_promtool_check_rules_accepts_the_rendered_file(tmp_path: Path):
    path = tmp_path / "rules.yml"
    path.write_text(render_rules())
    done = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_promtool_unit_tests_fire_and_stay_quiet(tmp_path: Path):
    rules = _unit_rules(tmp_path)
    groups = []
    cases = [(a, *c) for a, c in {**CASES, **COUNTER_CASES}.items()] + MORE_CASES
    for alert, fire, quiet, labels in cases:
        groups += [_group(alert, fire, labels), _group(alert, quiet, None)]
    tests = _write(tmp_path, {"rule_files": [str(rules)], "tests": groups}, "tests.json")
    done = subprocess.run(
        [_promtool(), "test", "rules", str(tests)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_expectation_makes_promtool_fail(tmp_path: Path):
    """The harness can fail: a quiet series expected to fire is reported."""
    rules = _unit_rules(tmp_path)
    _, quiet, labels = CASES["StreamdrBackupStale"]
    doc = {"rule_files": [str(rules)], "tests": [_group("StreamdrBackupStale", quiet, labels)]}
    done = subprocess.run(
        [_promtool(), "test", "rules", str(_write(tmp_path, doc, "t.json"))],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0


def _never_run_group(ran: list[str], expected: list[str]) -> dict:
    return {
        "interval": "1m",
        "input_series": [
            {"series": f'{LAST_RUN}{{scenario="{s}"}}', "values": f"{RECENT}+0x30"} for s in ran
        ],
        "alert_rule_test": [
            {
                "eval_time": "20m",
                "alertname": "StreamdrDrillNeverRun",
                "exp_alerts": [
                    {"exp_labels": {"drill": d, "severity": "warning"}} for d in expected
                ],
            }
        ],
    }


def test_promtool_drills_that_never_ran_fire(tmp_path: Path):
    """Each row of the strategy's drill table alerts while none of its scenarios has a run."""
    rules = _unit_rules(tmp_path)
    every = [req.drill for req in REQUIRED_DRILLS]
    ran = ["broker-failover", "config-rollback", "workflow-failure", "site-failover-automatic"]
    groups = [
        _never_run_group([], every),
        _never_run_group(ran, ["database-restore"]),
        _never_run_group([*ran, "metadata-db-restore"], []),
    ]
    tests = _write(tmp_path, {"rule_files": [str(rules)], "tests": groups}, "tests.json")
    done = subprocess.run(
        [_promtool(), "test", "rules", str(tests)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_lag_thresholds_come_from_the_arguments():
    text = render_rules(AlertThresholds(lag_warning_seconds=120, lag_critical_seconds=240))
    assert "streamdr_replication_lag_seconds > 240" in text
    assert "streamdr_replication_lag_seconds > 120 and" in text


def _grafana_exprs() -> dict[str, str]:
    doc = json.loads(render_dashboard())
    return {p["title"]: t["expr"] for p in doc["panels"] for t in p["targets"]}


def test_promtool_grafana_queries_parse_and_count_drills_never_run(tmp_path: Path):
    """Every panel query is valid PromQL; the never-run panel counts the table's missing rows."""
    exprs = _grafana_exprs()
    records = [{"record": f"panel_{i}", "expr": e} for i, e in enumerate(exprs.values())]
    rules = _write(tmp_path, {"groups": [{"name": "panels", "rules": records}]}, "panels.json")
    never_run = exprs["Required drills never run"]
    ran = ["broker-failover", "site-failover"]
    test = {
        "interval": "1m",
        "input_series": [
            {"series": f'{LAST_RUN}{{scenario="{s}"}}', "values": "0+0x10"} for s in ran
        ],
        "promql_expr_test": [
            {"expr": never_run, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": 3}]}
        ],
    }
    tests = _write(tmp_path, {"rule_files": [str(rules)], "tests": [test]}, "tests.json")
    for args in (["check", "rules", str(rules)], ["test", "rules", str(tests)]):
        done = subprocess.run([_promtool(), *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
