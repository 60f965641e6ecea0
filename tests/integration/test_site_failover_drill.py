"""The site-failover drills on the session lab: the primary site is killed and restored."""

import json

import pytest

from streamdr.kafka.admin import KafkaAdmin
from streamdr.replication.failover.active_site import active_site
from streamdr.store.db import MetadataStore
from tests.conftest import run_cli

REQUIRED = {
    "rto_seconds",
    "rpo_seconds",
    "rpo_events_at_failover",
    "messages_lost_after_failback",
    "duplicates_applied",
    "redeliveries",
    "failover",
    "failback",
    "loops",
    "alerts",
}


def assert_lab_whole(lab_settings):
    for name, site in lab_settings.sites.items():
        md = KafkaAdmin(name, site).metadata()
        assert len(md.brokers) == 3, name
        bad = [p for t in md.topics.values() for p in t.partitions if p.under_replicated]
        assert not bad, bad[:3]


# Issue 12: the site-failover drills pass in both delivery modes; each runs once here, the
# active-active one batched (its failover moves batches between two serving sites).
@pytest.mark.parametrize(
    ("drill", "mode"), [("site-failover", "per-event"), ("site-failover-active-active", "batched")]
)
def test_site_failover_drill_passes_and_restores_the_site(drill, mode, lab, lab_settings):
    store = MetadataStore.from_settings(lab_settings)
    active_before = active_site(store, lab_settings)
    args = ("drill", "run", drill, "--delivery", mode, "--json")
    proc = run_cli(*args, config=lab.settings_file, timeout=1800)
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    failed_steps = [s for s in report["steps"] if not s.get("ok", True)]
    assert proc.returncode == 0, (report["failures"], failed_steps, report.get("failover"))
    assert set(report) >= REQUIRED
    assert report["passed"] is True
    assert report["delivery_mode"] == mode
    assert 0 < report["rto_seconds"] < 60
    assert report["rpo_seconds"] < 10
    assert report["messages_lost_after_failback"] == 0
    assert report["duplicates_applied"] == 0
    assert report["failover"]["passed"] and report["failback"]["passed"]
    assert report["failover"]["rpo_seconds_estimate"] is not None
    assert report["loops"] == []
    # The failback's CDC starts behind the slot on the returning site; dr answers and holds the
    # changes in between, so that is a note, not an alert.
    assert not [a for a in report["alerts"] if "checkpoint-behind-source" in a], report["alerts"]
    # Delivered by the real pipeline: the endpoint saw events from both sites' workers, and
    # every row committed at the source database was applied.
    assert report["applied_by_site"].get("primary", 0) > 0
    assert report["applied_by_site"].get("dr", 0) > 0
    assert report["events_applied"] == report["events_committed"] > 0
    # The drill used its own active-site scope and restored the killed site.
    assert active_site(MetadataStore.from_settings(lab_settings), lab_settings) == active_before
    assert_lab_whole(lab_settings)
