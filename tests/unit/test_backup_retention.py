"""Retention plans with a fixed clock, and the S3 lifecycle rules."""

from datetime import UTC, datetime, timedelta

from streamdr.backup.model import ManifestEntry
from streamdr.backup.retention import STRATEGY, lifecycle_rules_s3, plan_retention
from streamdr.clock import datetime_to_ms

NOW = datetime(2032, 6, 1, tzinfo=UTC)


def aged(days, first=0):
    ts = datetime_to_ms(NOW - timedelta(days=days))
    return ManifestEntry(
        "t", 0, first, first + 10, 10, first, first + 9, ts - 1000, ts, key=f"k{first}", bytes=1
    )


ENTRIES = [
    aged(1, 0),
    aged(89.9, 10),
    aged(90, 20),
    aged(400, 30),
    aged(7 * 365 - 0.1, 40),
    aged(7 * 365, 50),
    aged(3000, 60),
]


def kinds(plan):
    return [(a.kind, a.entry.first_offset) for a in plan.actions]


def test_archive_after_90_days_delete_after_7_years_with_archive_store():
    plan = plan_retention({"local": ENTRIES}, ("archive", []), NOW)
    assert kinds(plan) == [
        ("archive", 20),
        ("archive", 30),
        ("archive", 40),
        ("delete", 50),
        ("delete", 60),
    ]
    assert all(a.to_store == "archive" for a in plan.actions if a.kind == "archive")


def test_archive_store_entries_are_deleted_after_7_years_only():
    plan = plan_retention({}, ("archive", [aged(400, 0), aged(7 * 365 + 1, 10)]), NOW)
    assert kinds(plan) == [("delete", 10)]


def test_without_archive_store_s3_relies_on_lifecycle_and_local_warns():
    s3 = plan_retention({"s3": ENTRIES}, None, NOW, s3_stores=frozenset({"s3"}))
    assert s3.count("archive-by-lifecycle") == 3 and s3.count("delete") == 2
    assert not s3.warnings
    local = plan_retention({"local": ENTRIES}, None, NOW)
    assert local.count("archive-unavailable") == 3 and local.warnings


def test_same_clock_same_plan():
    a = plan_retention({"local": ENTRIES}, ("archive", []), NOW)
    b = plan_retention({"local": ENTRIES}, ("archive", []), NOW)
    assert a.as_dict() == b.as_dict()
    later = plan_retention({"local": ENTRIES}, ("archive", []), NOW + timedelta(days=100))
    assert later.count("archive") == 4 and later.count("delete") == 3


def test_gap_entries_age_by_write_time_and_are_never_archived():
    gap = ManifestEntry("t", 0, 0, 5, 0, written_at=(NOW - timedelta(days=100)).isoformat())
    assert plan_retention({"local": [gap]}, ("archive", []), NOW).actions == ()
    old = ManifestEntry("t", 0, 0, 5, 0, written_at=(NOW - timedelta(days=3000)).isoformat())
    assert kinds(plan_retention({"local": [old]}, None, NOW)) == [("delete", None)]


def test_s3_lifecycle_rules_match_the_policy():
    doc = lifecycle_rules_s3("backups/kafka/primary", STRATEGY, "GLACIER")
    (rule,) = doc["Rules"]
    assert rule["Filter"] == {"Prefix": "backups/kafka/primary/"}
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER"}]
    assert rule["Expiration"] == {"Days": 2555}
    assert STRATEGY.as_dict() == {
        "live_kafka_days": 7,
        "standard_days": 90,
        "delete_after_days": 2555,
    }
