"""Object-store key shapes of the artifact registry and config backups: format/parse round trips."""

from datetime import UTC, datetime

import pytest

from streamdr.artifacts.layout import (
    VERSION_FILES,
    ArtifactKey,
    format_artifact_key,
    format_version_prefix,
    parse_artifact_key,
)
from streamdr.workflows.layout import (
    BundleKey,
    format_bundle_key,
    format_bundle_manifest_key,
    parse_bundle_key,
)


@pytest.mark.parametrize("file", VERSION_FILES)
@pytest.mark.parametrize(("name", "version"), [("enrich", "1.0.0"), ("a-b-c", "10.2.3-rc.1")])
def test_artifact_key_round_trip(name, version, file):
    key = format_artifact_key(name, version, file)
    assert key.startswith(format_version_prefix(name, version) + "/")
    assert parse_artifact_key(key) == ArtifactKey(name, version, file)


@pytest.mark.parametrize(
    "key",
    [
        "artifacts/x/1.0.0/other.txt",
        "artifacts/x/manifest.json",
        "_drills/abc/artifacts/x/1.0.0/manifest.json",
        "artifacts//1.0.0/manifest.json",
        "artifacts/x/1.0.0/artifact.tgz.tmp-1234",
    ],
)
def test_foreign_keys_are_not_artifacts(key):
    assert parse_artifact_key(key) is None


def test_unknown_file_cannot_be_formatted():
    with pytest.raises(ValueError):
        format_artifact_key("x", "1.0.0", "evil.sh")


def test_bundle_keys_round_trip_and_sort_by_time():
    head = "0123456789abcdef0123456789abcdef01234567"
    t1 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    t2 = datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)
    bundle, manifest = format_bundle_key(t1, head), format_bundle_manifest_key(t1, head)
    assert parse_bundle_key(bundle) == BundleKey(t1, head[:12], "bundle")
    assert parse_bundle_key(manifest) == BundleKey(t1, head[:12], "manifest")
    assert format_bundle_key(t1, head) < format_bundle_key(t2, head)
    parsed = parse_bundle_key(bundle)
    assert format_bundle_key(parsed.created_at, parsed.head) == bundle


@pytest.mark.parametrize(
    "key",
    [
        "config-repo/bundles/x.bundle",
        "other/20260301T120000000000Z-0123456789ab.bundle",
        "config-repo/bundles/20260301T120000000000Z-0123456789ab.zip",
    ],
)
def test_foreign_bundle_keys(key):
    assert parse_bundle_key(key) is None
