import pytest

from streamdr.chaos.catalog import CATALOG, parse_kinds, plan_faults, usable_kinds
from streamdr.chaos.ledger import FaultWindow, balance, problems_by_fault, windows_for
from streamdr.chaos.replication import replication_gaps
from streamdr.errors import InputError


def test_same_seed_same_schedule_other_seed_other_schedule():
    kinds = tuple(CATALOG)
    one = plan_faults(7, 600, kinds)
    assert one == plan_faults(7, 600, kinds)
    assert one != plan_faults(8, 600, kinds)


def test_schedule_fits_the_duration_and_targets_brokers():
    schedule = plan_faults(3, 300, tuple(CATALOG), brokers=3, recovery_allowance=10)
    used = sum(f.calm_before + f.hold + 10 for f in schedule)
    assert used <= 300
    assert [f.index for f in schedule] == list(range(1, len(schedule) + 1))
    for f in schedule:
        lo, hi = CATALOG[f.kind].hold
        assert lo <= f.hold <= hi
        assert (f.target is not None) == CATALOG[f.kind].needs_broker
        assert f.target is None or 1 <= f.target <= 3


def test_a_short_run_still_gets_one_fault_of_the_chosen_kinds():
    schedule = plan_faults(1, 5, ("kill-worker",))
    assert [f.kind for f in schedule] == ["kill-worker"]


def test_parse_kinds():
    assert parse_kinds(None) == tuple(CATALOG)
    assert parse_kinds("kill-cdc, kill-cdc,kill-worker") == ("kill-cdc", "kill-worker")
    with pytest.raises(InputError):
        parse_kinds("kill-everything")
    with pytest.raises(InputError):
        plan_faults(1, 60, ())


WINDOWS = [
    FaultWindow(1, "kill-worker", 100.0, 105.0, 110.0),
    FaultWindow(2, "endpoint-outage", 200.0, 208.0, None),
]


def test_windows_include_grace_and_fall_back_to_heal_time():
    assert windows_for(96.0, WINDOWS) == [1]
    assert windows_for(114.0, WINDOWS) == [1]
    assert windows_for(150.0, WINDOWS) == []
    assert windows_for(212.0, WINDOWS) == [2]  # not recovered: window ends at heal + grace
    assert windows_for(214.0, WINDOWS) == []


def test_balanced_ledger():
    committed = {1: 10.0, 2: 11.0, 3: 12.0}
    book = balance(committed, [1, 2], {3: "transform error"}, WINDOWS)
    assert book["balanced"]
    assert (book["events_applied"], book["events_dead_lettered"], book["events_lost"]) == (2, 1, 0)
    assert book["dead_letter_reasons"] == {"transform error": 1}


def test_unbalanced_ledger_names_events_and_their_fault_windows():
    committed = {1: 101.0, 2: 150.0, 3: 203.0, 4: 300.0}
    book = balance(committed, [1, 1, 3, 99], {3: "bad"}, WINDOWS)
    assert not book["balanced"]
    assert [e["event"] for e in book["lost"]] == [2, 4]
    assert [e["fault_windows"] for e in book["lost"]] == [[], []]
    assert [(e["event"], e["fault_windows"]) for e in book["applied_twice"]] == [(1, [1]), (3, [2])]
    assert book["events_unexpected"] == 1 and book["unexpected_sample"] == [99]
    assert problems_by_fault(book) == {"none": 2, 1: 1, 2: 1}


def test_kill_mm2_is_in_the_catalog_and_only_in_runs_with_mm2():
    assert CATALOG["kill-mm2"].needs_mm2 and not CATALOG["kill-mm2"].needs_broker
    assert [k for k in CATALOG if CATALOG[k].needs_mm2] == ["kill-mm2"]
    everything = parse_kinds(None)
    assert "kill-mm2" in usable_kinds(everything, with_mm2=True)
    assert "kill-mm2" not in usable_kinds(everything, with_mm2=False)
    assert usable_kinds(("kill-mm2", "kill-cdc"), with_mm2=False) == ("kill-cdc",)
    with pytest.raises(InputError):
        usable_kinds(("kill-mm2",), with_mm2=False)


def test_a_schedule_of_kill_mm2_has_no_broker_target_and_replays():
    schedule = plan_faults(5, 120, ("kill-mm2", "kill-broker"), brokers=3)
    assert schedule == plan_faults(5, 120, ("kill-mm2", "kill-broker"), brokers=3)
    assert {f.kind for f in schedule} == {"kill-mm2", "kill-broker"}
    for f in schedule:
        assert (f.target is None) == (f.kind == "kill-mm2")
        lo, hi = CATALOG[f.kind].hold
        assert lo <= f.hold <= hi


def test_the_short_integration_run_plans_kill_mm2():
    # tests/integration/test_chaos.py relies on this seed planning kill-mm2 within 60 s.
    from tests.integration.test_chaos import FAULTS, SEED

    kinds = [f.kind for f in plan_faults(SEED, 60, parse_kinds(FAULTS), brokers=3)]
    assert "kill-mm2" in kinds and len(kinds) >= 2


def test_replication_complete_when_translated_and_counted():
    source = {0: (0, 10), 1: (5, 5)}
    assert replication_gaps(source, {0: (0, 10)}, {0: 0, 1: 0}) == []
    # MM2 copies at least once: duplicates on the target after a kill are not gaps.
    assert replication_gaps(source, {0: (0, 13)}, {0: 0, 1: 0}) == []


def test_replication_gaps_name_each_partition():
    source = {0: (0, 10), 1: (0, 4), 2: (0, 6)}
    target = {0: (0, 10), 1: (0, 3)}
    gaps = replication_gaps(source, target, {0: 2, 1: 0})
    assert gaps == [
        "partition 0: 2 offsets not replicated",
        "partition 1: 3 records on the target, 4 on the source",
        "partition 2: no offset translation yet (0 of 6 records)",
    ]
