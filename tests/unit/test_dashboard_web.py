"""The web dashboard on a SQLite metadata DB (no Kafka: sites are not probed), and `render`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from streamdr.backup.history import finish_run, start_run
from streamdr.clock import utcnow
from streamdr.dashboard.web import build_app, build_router
from streamdr.drills.history import save_report
from streamdr.drills.report import DrillReport
from streamdr.observe.grafana import render_dashboard
from streamdr.policy.tiers import DRILL_TARGETS
from streamdr.settings import load_settings
from streamdr.store.db import MetadataStore
from tests.conftest import run_cli

SETTINGS = """version: 1
sites:
  primary: {{bootstrap_servers: "127.0.0.1:1"}}
  dr: {{bootstrap_servers: "127.0.0.1:2"}}
metadata_db: {{url: "sqlite:///{db}"}}
"""
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def settings_file(tmp_path):
    cfg = tmp_path / "streamdr.yaml"
    cfg.write_text(SETTINGS.format(db=tmp_path / "m.db"))
    return cfg


def _seed(settings) -> None:
    store = MetadataStore.from_settings(settings)
    for days, rto in ((20, 12.5), (10, 9.0), (1, 7.25)):
        report = DrillReport("broker-failover", "primary", DRILL_TARGETS["broker-failover"])
        report.started_at = utcnow() - timedelta(days=days)
        report.finished_at = report.started_at + timedelta(seconds=30)
        report.passed, report.rto_seconds, report.rpo_seconds = True, rto, 0.0
        save_report(store, report)
    hostile = DrillReport(HOSTILE, "primary", DRILL_TARGETS["broker-failover"])
    hostile.finished_at, hostile.passed = utcnow(), False
    save_report(store, hostile)
    run = start_run(store, "primary", "local", "backups/")
    finish_run(store, run, "ok", {})


@pytest.fixture
def client(settings_file):
    settings = load_settings(settings_file)
    _seed(settings)
    return TestClient(build_app(settings, probe=False))


def test_the_page_shows_drills_backups_and_escapes_names(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert 'data-scenario="broker-failover"' in html
    assert '<td class="rto">7.2</td>' in html or '<td class="rto">7.3</td>' in html
    assert HOSTILE not in html  # autoescape: a scenario name is text, never markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-kind="topics"' in html
    assert 'data-verdict="ready"' in html  # non-critical: a fresh topic backup
    # No Litestream replica in these settings: unknown, never shown as a 0 s old backup.
    assert '<tr data-kind="metadata_db" data-configured="no">' in html
    assert "not configured" in html
    assert '<span class="never-run" data-drill="configuration-rollback">' in html
    assert 'data-drill="node-failover"' not in html  # broker-failover ran


def test_chart_data_is_json_the_script_tag_cannot_break(client):
    html = client.get("/").text
    raw = html.split('<script type="application/json" id="trends">', 1)[1].split("</script>")[0]
    trends = json.loads(raw)
    assert [p["rto_seconds"] for p in trends["broker-failover"]] == [12.5, 9.0, 7.25]
    assert "<script>" not in raw


def test_api_metrics_and_static(client):
    doc = client.get("/api/readiness").json()
    assert {t["tier"] for t in doc["tiers"]} == {"critical", "standard", "non-critical"}
    metadb = next(b for b in doc["backups"] if b["kind"] == "metadata_db")
    assert metadb == {"kind": "metadata_db", "configured": False, "age_seconds": None}
    assert "full-site-failover" in doc["drills_never_run"]
    metrics = client.get("/metrics").text
    assert 'streamdr_drill_rto_seconds{scenario="broker-failover"} 7.25' in metrics
    assert 'streamdr_backup_configured_ratio{kind="metadata_db"} 0.0' in metrics
    assert client.get("/static/chart-4.4.9.umd.js").text.startswith("/*!\n * Chart.js v4.4.9")
    assert client.get("/static/..%2F..%2Fweb.py").status_code == 404
    assert client.get("/static/web.py").status_code == 404


def test_status_of_an_unknown_client_is_404(client):
    assert client.get("/status/nobody").status_code == 404
    assert client.get("/status/%3Cb%3E").status_code == 404


def test_the_router_works_under_a_prefix(settings_file):
    from fastapi import FastAPI

    settings = load_settings(settings_file)
    _seed(settings)
    app = FastAPI()
    app.include_router(build_router(settings, probe=False), prefix="/dr")
    html = TestClient(app).get("/dr/").text
    assert 'src="/dr/static/chart-4.4.9.umd.js"' in html


def test_grafana_dashboard_has_the_appendix_b_panels():
    doc = json.loads(render_dashboard())
    titles = [p["title"] for p in doc["panels"]]
    for wanted in (
        "Kafka replication lag (by topic)",
        "DR cluster health",
        "Backup age (topics, config repository, metadata DB)",
        "Last DR drill (age)",
        "Recovery Time Objective (RTO) - historical",
        "Recovery Point Objective (RPO) - historical",
        "Backups with no known age",
        "Required drills never run",
    ):
        assert wanted in titles
    assert all(
        t["expr"].startswith(("streamdr_", "max", "sum", "time", "count"))
        for p in doc["panels"]
        for t in p["targets"]
    )
    assert doc["uid"] == "streamdr-dr-readiness"


def test_render_commands_use_the_settings_thresholds(settings_file, tmp_path):
    with settings_file.open("a") as f:
        f.write("replication: {lag_warning_seconds: 100, lag_critical_seconds: 200}\n")
    proc = run_cli("render", "prometheus-rules", config=settings_file)
    assert proc.returncode == 0, proc.stderr
    assert "streamdr_replication_lag_seconds > 200" in proc.stdout
    out = tmp_path / "board.json"
    proc = run_cli("render", "grafana", "-o", str(out), config=settings_file)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["title"] == "Disaster Recovery Readiness"


def test_status_page_of_a_client_shows_the_failover_and_history(settings_file, monkeypatch):
    from streamdr.dashboard import web
    from streamdr.dashboard.model import FailoverState
    from tests.unit.test_dashboard_readiness import _readiness

    running = {"kind": "failover", "from_site": "primary", "to_site": "dr", "status": "running"}
    past = {
        "kind": "failover",
        "from": "primary",
        "to": "dr",
        "status": HOSTILE,
        "started_at": "2026-05-01T10:00:00+00:00",
        "finished_at": None,
    }
    r = _readiness(
        clients={"acme": ("standard",)},
        failover=FailoverState("dr", "primary", running, (past,)),
    )
    monkeypatch.setattr(web, "gather", lambda *a, **k: r)
    page = TestClient(build_app(load_settings(settings_file), probe=False)).get("/status/acme")
    assert page.status_code == 200
    assert 'data-state="failover in progress"' in page.text
    assert "A failover from primary to dr is running" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text


def test_serve_mounts_the_dashboard_under_its_own_prefix(settings_file):
    from streamdr.cli.serve import dashboard_router
    from streamdr.serve.app import build_app as build_serve_app

    settings = load_settings(settings_file)
    _seed(settings)
    app = build_serve_app(lambda: {}, lambda: None, [dashboard_router(settings)])
    client = TestClient(app)
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert 'src="/dashboard/static/chart-4.4.9.umd.js"' in page.text
    assert client.get("/health").status_code == 200  # serve's own probes are still there
