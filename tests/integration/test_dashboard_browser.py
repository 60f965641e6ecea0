"""The readiness dashboard in headless Chromium, on the lab (real site health) with seeded history.

Drill runs and a backup run are stored in a metadata DB of the test's own; MM2 lag comes from a
``lag.json`` written the way the supervisor writes it (``merge_flow`` of the sampler). The test
reads what the browser rendered: table cells, the number of points each chart drew, and the
alert that appears once lag is pushed above the critical threshold. Screenshots go to docs/img/.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from streamdr.backup.history import finish_run, start_run
from streamdr.clock import utcnow
from streamdr.dashboard.web import build_app
from streamdr.drills.history import save_report
from streamdr.drills.report import DrillReport
from streamdr.fsutil import atomic_write_text, write_json_atomic
from streamdr.harness.derived_settings import derive
from streamdr.policy.tiers import DRILL_TARGETS, Tier
from streamdr.replication.lag.arithmetic import LagStatus, PartitionLag
from streamdr.replication.lag.monitor import FlowLag
from streamdr.replication.lag.sampler import LAG_FILE, merge_flow
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.topology import Flow, ReplicatedSet, Topology
from streamdr.runtime.ports import free_ports
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from tests.integration.cdp import Browser

pytestmark = pytest.mark.lab

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
TOPIC = "retail.orders"
RTOS = {"broker-failover": [14.0, 11.5, 9.25], "site-failover": [95.0, 61.0]}


def _seed(settings: Settings) -> None:
    store = MetadataStore.from_settings(settings)
    for scenario, rtos in RTOS.items():
        for i, rto in enumerate(rtos):  # within targets: no alert until lag is forced
            report = DrillReport(scenario, "primary", DRILL_TARGETS[scenario])
            report.started_at = utcnow() - timedelta(days=30 * (len(rtos) - i))
            report.finished_at = report.started_at + timedelta(minutes=5)
            report.passed, report.rto_seconds, report.rpo_seconds = True, rto, 0.0
            save_report(store, report)
    run = start_run(store, "primary", "local", "backups/")
    finish_run(store, run, "ok", {})


def _write_lag(settings: Settings, seconds: float) -> None:
    """Write topology.json and lag.json as `replicate start` and the supervisor do."""
    runner = Mm2Runner(settings)
    a, b = list(settings.sites)
    topology = Topology(
        (a, b),
        a,
        a,
        ".",
        (ReplicatedSet("orders", Tier.STANDARD, (TOPIC,), (), 300.0),),
        (Flow(a, b, (TOPIC,), (), ("orders",), 1.0),),
    )
    runner.dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(runner.dir / "topology.json", topology.to_json())
    parts = [
        PartitionLag(f"{a}->{b}", TOPIC, f"{a}.{TOPIC}", p, 100, 100 - n, n, seconds, LagStatus.OK)
        for p, n in ((0, 7), (1, 5))
    ]
    now, doc = time.time(), {"flows": {}}
    merge_flow(doc["flows"].setdefault(f"{a}->{b}", {}), FlowLag(f"{a}->{b}", 1.0, parts), now)
    doc["updated_at"] = now
    write_json_atomic(runner.dir / LAG_FILE, doc)


@pytest.fixture
def served(lab: object, lab_settings: Settings, tmp_path: Path):
    settings = derive(
        lab_settings, metadata_db={"url": f"sqlite:///{tmp_path / 'm.db'}"}, lab_dir=str(tmp_path)
    )
    _seed(settings)
    _write_lag(settings, 3.5)
    port = free_ports(1)[0]
    server = uvicorn.Server(
        uvicorn.Config(build_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    browser = Browser(tmp_path / "chromium")
    try:
        yield settings, f"http://127.0.0.1:{port}", browser
    finally:
        browser.close()
        server.should_exit = True
        thread.join(timeout=10)


def _cell(browser: Browser, selector: str) -> str:
    return browser.evaluate(f"document.querySelector({selector!r}).textContent.trim()")


def test_dashboard_renders_real_values_charts_and_a_lag_alert(served):
    settings, url, browser = served
    browser.open(url + "/", "document.body.dataset.chartsReady === 'true'")

    assert _cell(browser, f'tr[data-topic="{TOPIC}"] .seconds') == "3.5"
    assert _cell(browser, f'tr[data-topic="{TOPIC}"] .messages') == "12"
    assert _cell(browser, 'tr[data-scenario="broker-failover"] .rto') == "9.2"
    for site in settings.sites:  # the lab's sites answered the dashboard's metadata probe
        assert _cell(browser, f'tr[data-site="{site}"] td:nth-child(3)') == "yes"
    assert _cell(browser, 'tr[data-kind="topics"] .age').endswith(" s")  # seconds old
    # No Litestream replica in the lab's settings: unknown, not a 0 s old backup.
    assert _cell(browser, 'tr[data-kind="metadata_db"] .age') == "unknown"
    points = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#charts canvas')]"
        ".map(c => [c.dataset.scenario, [+c.dataset.points, +c.dataset.rpoPoints]]))"
    )
    assert points == {"broker-failover": [3, 3], "site-failover": [2, 2]}
    firing = browser.evaluate(
        "[...document.querySelectorAll('tr[data-alert]')].map(r => r.dataset.alert)"
    )
    # Nothing backs up the lab's config repository or metadata DB, and most of the drill table
    # never ran here: those alert; nothing about lag does yet.
    assert set(firing) == {"StreamdrBackupNotConfigured", "StreamdrDrillNeverRun"}
    browser.screenshot(IMG / "dashboard.png")

    _write_lag(settings, 900.0)  # past the critical threshold (10 minutes)
    browser.open(url + "/", "document.body.dataset.chartsReady === 'true'")
    alert = 'tr[data-alert="StreamdrReplicationLagCritical"]'
    assert _cell(browser, f"{alert} td:nth-child(3)") == f"{TOPIC} (standard)"
    verdict = browser.evaluate(
        "document.querySelector('.verdict[data-tier=\"standard\"]').dataset.verdict"
    )
    assert verdict == "not ready"
    browser.screenshot(IMG / "dashboard-alert.png")
