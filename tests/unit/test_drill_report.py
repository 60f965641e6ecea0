from datetime import UTC, datetime, timedelta

import pytest

from streamdr.drills.history import last_passed, list_reports, save_report
from streamdr.drills.report import DrillReport
from streamdr.policy.tiers import DRILL_TARGETS
from streamdr.store.db import MetadataStore


def test_steps_record_failures_and_judge_lists_failed_criteria():
    report = DrillReport("broker-failover", "primary", DRILL_TARGETS["broker-failover"])
    with report.step("fine"):
        pass
    with pytest.raises(RuntimeError), report.step("boom"):
        raise RuntimeError("kaput")
    assert [s.ok for s in report.steps] == [True, False]
    assert report.steps[1].detail == "RuntimeError: kaput"
    report.judge({"RTO < 60s": True, "RPO = 0": False})
    assert not report.passed
    assert report.failures == ["RPO = 0"]
    doc = report.as_dict()
    assert doc["targets"] == {"rpo_seconds": 0.0, "rto_seconds": 60.0}
    assert doc["steps"][1]["name"] == "boom"


def test_history_round_trip(tmp_path):
    store = MetadataStore("sqlite:///history.db", tmp_path)
    old = DrillReport(
        "broker-failover",
        "primary",
        DRILL_TARGETS["broker-failover"],
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    old.finished_at = old.started_at + timedelta(seconds=20)
    old.passed = True
    old.figures["acked"] = 10
    failed = DrillReport("broker-failover", "primary", DRILL_TARGETS["broker-failover"])
    failed.finished_at = failed.started_at
    first = save_report(store, old)
    second = save_report(store, failed)
    assert second > first
    rows = list_reports(store)
    assert [r["id"] for r in rows] == [second, first]
    assert rows[1]["acked"] == 10
    assert last_passed(store, "broker-failover") == old.finished_at
    assert last_passed(store, "other") is None
    assert (tmp_path / "history.db").exists()


def test_report_steps_carry_their_duration_in_seconds():
    report = DrillReport("broker-failover", "primary", DRILL_TARGETS["broker-failover"])
    with report.step("wait") as st:
        pass
    st.finished_at = st.started_at + timedelta(seconds=12.3456)
    assert report.as_dict()["steps"][0]["seconds"] == 12.346
