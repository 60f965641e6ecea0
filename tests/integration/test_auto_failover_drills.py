"""The automatic failover drills on the session lab (real Kafka, real proxies, real failover)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.lab


def _drill(lab, name):
    proc = run_cli("drill", "run", name, "--json", config=lab.settings_file, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_one_observer_partitioned_from_the_primary_does_not_fail_over(lab):
    report = _drill(lab, "auto-failover-observer-partition")
    assert report["passed"] is True, report["failures"]
    assert report["observers_down"] == ["edge"]
    assert "failover" not in report["decisions"] and "suspect" in report["decisions"]


@pytest.mark.soak
def test_site_loss_with_automation_fails_over_by_itself(lab):
    report = _drill(lab, "site-failover-automatic")
    assert report["passed"] is True, report["failures"]
    # Two observers are enough for the quorum; the third may still be timing out its probe.
    assert len(report["observers_down"]) >= 2
    assert 5.0 <= report["detected_after_s"] < report["rto_seconds"] < 90
