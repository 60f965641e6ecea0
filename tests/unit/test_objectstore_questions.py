"""The object store answers its own questions: its bucket and prefix, and lifecycle support."""

from __future__ import annotations

import pytest

from streamdr.objectstore.store import ObjectStore
from streamdr.settings.model import StoreSettings


def _store(url: str) -> ObjectStore:
    return ObjectStore("s", StoreSettings(url=url))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://backups/dr/kafka", ("backups", "dr/kafka")),
        ("s3://backups/dr/kafka/", ("backups", "dr/kafka")),
        ("s3://backups", ("backups", "")),
        ("gs://bucket/a", ("bucket", "a")),
        ("/var/backups", ("", "")),
        ("file:///var/backups", ("", "")),
    ],
)
def test_bucket_and_prefix_read_from_the_url(url, expected):
    assert _store(url).bucket_and_prefix() == expected


@pytest.mark.parametrize(
    ("url", "supported"),
    [("s3://b/p", True), ("gs://b/p", False), ("/var/backups", False)],
)
def test_only_s3_stores_have_lifecycle_rules(url, supported):
    assert _store(url).supports_lifecycle_rules is supported
