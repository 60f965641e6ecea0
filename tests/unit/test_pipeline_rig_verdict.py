"""How the pipeline drills judge exactly-once delivery from the ledger's verdict (no lab)."""

from datetime import timedelta

from streamdr.drills.pipeline_rig import exactly_once_checks, verify_exactly_once
from streamdr.drills.report import DrillReport
from streamdr.harness.ledger import verdict
from streamdr.policy.tiers import Targets

TARGETS = Targets(rpo=timedelta(0), rto=timedelta(minutes=2))


class LedgerRig:
    """The rig's verification surface over a fixed list of applications."""

    def __init__(self, applied: list[int]) -> None:
        self.applied = applied

    def wait_all_applied(self, committed: set[int], timeout: float) -> bool:
        return committed <= set(self.applied)

    def verdict(self, committed: set[int]) -> dict:
        return verdict(committed, self.applied, 0)


def _report() -> DrillReport:
    return DrillReport("cdc-source-outage", "primary", TARGETS)


def test_a_clean_run_passes_with_rpo_zero_and_its_rto():
    report = _report()
    checks = exactly_once_checks(report, verdict({1, 2}, [1, 2], 3), 12.34567, TARGETS)
    assert checks == {"events_lost = 0": True, "duplicates_applied = 0": True, "RTO < 120s": True}
    assert report.rto_seconds == 12.346 and report.rpo_seconds == 0.0


def test_a_loss_a_duplicate_or_no_recovery_fails_and_leaves_rpo_unknown():
    report = _report()
    checks = exactly_once_checks(report, verdict({1, 2}, [1, 1], 0), None, TARGETS)
    assert checks == {
        "events_lost = 0": False,
        "duplicates_applied = 0": False,
        "RTO < 120s": False,
    }
    assert report.rto_seconds is None and report.rpo_seconds is None
    assert not exactly_once_checks(_report(), verdict(set(), [], 0), 120.0, TARGETS)["RTO < 120s"]


def test_verify_step_reads_the_truth_inside_the_step_and_records_lost_and_twice():
    report, calls = _report(), []

    def committed() -> set[int]:
        calls.append(len(report.steps))  # the step is open: stopping the load is inside it
        return {1, 2, 3}

    done, ended_at, result = verify_exactly_once(
        LedgerRig([1, 2, 2]),
        report,
        "verify",
        committed,
        0,  # type: ignore[arg-type]
    )
    assert not done and ended_at > 0 and result["events_lost"] == 1
    (step,) = report.steps
    assert calls == [1] and not step.ok and step.detail == "lost 1, twice 1"
