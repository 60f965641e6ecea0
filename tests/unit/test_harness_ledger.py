"""The harness ledger: committed at the source against applied at the endpoint (pure)."""

from streamdr.harness.ledger import (
    applications,
    duplicates_applied,
    first_applied,
    identities,
    verdict,
)


def _item(no, site="primary", at=10.0, op="insert", rid=None):
    payload = {"op": op, "key": {"id": no if rid is None else rid}, "row": {"change_no": no}}
    return {"payload": payload, "site": site, "applied_at": at}


def test_applications_keep_order_and_site_and_skip_malformed_items():
    items = [
        _item(3, at=1.5),
        {"payload": {"op": "delete", "key": {"id": 9}, "row": None}, "applied_at": 2.0},
        {"payload": "not a dict", "applied_at": 2.0},
        {"payload": {"row": {"change_no": "7"}}, "applied_at": 2.0},  # not a number
        _item(1, site=None, at=3),
        {"payload": {"row": {"change_no": 4}}},  # no applied_at
    ]
    assert applications(items) == [(3, "primary", 1.5), (1, None, 3.0)]


def test_identities_name_operation_row_and_change_and_skip_malformed_items():
    items = [
        _item(5, op="update", rid=2),
        {"payload": {"op": "insert", "key": [1], "row": {"change_no": 1}}},
        {"payload": {"op": "insert", "key": {"id": 1}}},
    ]
    assert identities(items) == [("update", 2, 5)]


def test_first_applied_keeps_the_first_time_of_a_repeated_change():
    assert first_applied([(1, "a", 5.0), (2, "a", 6.0), (1, "b", 9.0)]) == {1: 5.0, 2: 6.0}


def test_verdict_counts_lost_and_applied_twice_separately_from_ignored_redeliveries():
    result = verdict({1, 2, 3, 4}, [1, 2, 2, 5], redeliveries_ignored=7)
    assert result == {
        "events_committed": 4,
        "events_applied": 3,  # 5 was applied but never committed by this load: still counted
        "events_lost": 2,
        "duplicates_applied": 1,
        "redeliveries_ignored": 7,
        "lost_sample": [3, 4],
    }


def test_verdict_of_a_clean_run_and_the_lost_sample_is_bounded():
    assert verdict({1, 2}, [2, 1], 0)["events_lost"] == 0
    big = verdict(set(range(100)), [], 0)
    assert big["events_lost"] == 100 and big["lost_sample"] == list(range(20))
    assert duplicates_applied([("insert", 1, 1), ("insert", 1, 1), ("update", 1, 2)]) == 1
