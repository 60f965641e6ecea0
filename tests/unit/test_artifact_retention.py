"""Artifact retention planned purely with a fixed clock."""

from datetime import UTC, datetime, timedelta

from streamdr.artifacts.retention import (
    RetentionKind,
    RetentionPolicy,
    StoredVersion,
    add_years,
    plan_retention,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
POLICY = RetentionPolicy()


def v(version, age_days, location="registry"):
    return StoredVersion("enrich", version, NOW - timedelta(days=age_days), location)


def plan(versions, referenced=()):
    return {
        (a.version, a.location): a for a in plan_retention(versions, set(referenced), NOW, POLICY)
    }


def test_referenced_versions_are_kept_forever():
    got = plan([v("1.0.0", 365 * 20)], referenced={("enrich", "1.0.0")})
    assert got["1.0.0", "registry"].kind is RetentionKind.KEEP
    assert "referenced" in got["1.0.0", "registry"].reason


def test_historical_window_boundaries():
    got = plan([v("1.0.0", 89), v("1.0.1", 90), v("1.0.2", 91)])
    assert got["1.0.0", "registry"].kind is RetentionKind.KEEP
    assert got["1.0.0", "registry"].next_due == NOW + timedelta(days=1)
    assert got["1.0.1", "registry"].kind is RetentionKind.ARCHIVE
    assert got["1.0.2", "registry"].kind is RetentionKind.ARCHIVE


def test_archive_kept_until_seven_years_then_deleted():
    created_keep = add_years(NOW, -7) + timedelta(days=1)
    created_drop = add_years(NOW, -7)
    versions = [
        StoredVersion("enrich", "0.9.0", created_keep, "archive"),
        StoredVersion("enrich", "0.8.0", created_drop, "archive"),
        StoredVersion("enrich", "0.7.0", created_drop, "registry"),
    ]
    got = plan(versions)
    assert got["0.9.0", "archive"].kind is RetentionKind.KEEP
    assert got["0.9.0", "archive"].next_due == add_years(created_keep, 7)
    assert got["0.8.0", "archive"].kind is RetentionKind.DELETE
    assert got["0.7.0", "registry"].kind is RetentionKind.DELETE


def test_interrupted_move_is_completed():
    got = plan([v("1.0.0", 120), v("1.0.0", 120, "archive")])
    assert got["1.0.0", "registry"].kind is RetentionKind.ARCHIVE
    assert "interrupted" in got["1.0.0", "registry"].reason
    assert got["1.0.0", "archive"].kind is RetentionKind.KEEP


def test_policy_is_configurable_and_plan_is_pure():
    versions = [v("1.0.0", 10)]
    short = RetentionPolicy(historical=timedelta(days=7), archived_years=1)
    first = plan_retention(versions, set(), NOW, short)
    assert first == plan_retention(versions, set(), NOW, short)
    assert first[0].kind is RetentionKind.ARCHIVE


def test_add_years_leap_day():
    assert add_years(datetime(2024, 2, 29, tzinfo=UTC), 7) == datetime(2031, 2, 28, tzinfo=UTC)
    assert add_years(datetime(2024, 2, 29, tzinfo=UTC), 4) == datetime(2028, 2, 29, tzinfo=UTC)


def test_actions_are_json_ready():
    action = plan_retention([v("1.0.0", 1)], set(), NOW, POLICY)[0]
    assert action.as_dict()["artifact"] == "enrich@1.0.0"
    assert action.as_dict()["next_due"].startswith("2026-08-")
