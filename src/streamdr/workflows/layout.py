"""Object-store key shapes of config repository backups (pure; round-trip tested).

``config-repo/bundles/<UTC timestamp>-<head commit, 12 hex>.bundle`` holds ``git bundle --all``;
the ``.manifest.json`` beside it (written last, so it commits the backup) holds its sha256,
size, refs and branch. Timestamps sort lexically, so the newest backup is the last key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

BUNDLE_ROOT = "config-repo/bundles"
BUNDLE_SUFFIX = ".bundle"
MANIFEST_SUFFIX = ".manifest.json"
_TS = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(r"^(\d{8}T\d{12}Z)-([0-9a-f]{12})(\.bundle|\.manifest\.json)$")


@dataclass(frozen=True)
class BundleKey:
    """One backup object: when it was made, of which head, bundle or manifest."""

    created_at: datetime
    head: str
    kind: str  # "bundle" | "manifest"

    @property
    def stem(self) -> str:
        """Return the shared name of a backup's bundle and manifest (without suffix)."""
        return f"{self.created_at.astimezone(UTC).strftime(_TS)}-{self.head[:12]}"


def format_bundle_key(created_at: datetime, head: str) -> str:
    """Return the key of the bundle made at ``created_at`` of ``head``."""
    return f"{BUNDLE_ROOT}/{BundleKey(created_at, head, 'bundle').stem}{BUNDLE_SUFFIX}"


def format_bundle_manifest_key(created_at: datetime, head: str) -> str:
    """Return the key of the manifest of the bundle made at ``created_at`` of ``head``."""
    return f"{BUNDLE_ROOT}/{BundleKey(created_at, head, 'manifest').stem}{MANIFEST_SUFFIX}"


def parse_bundle_key(key: str) -> BundleKey | None:
    """Return the parts of a backup key, or None for any other key."""
    prefix, _, name = key.rpartition("/")
    match = _NAME.match(name)
    if prefix != BUNDLE_ROOT or match is None:
        return None
    created = datetime.strptime(match.group(1), _TS).replace(tzinfo=UTC)
    kind = "bundle" if match.group(3) == BUNDLE_SUFFIX else "manifest"
    return BundleKey(created, match.group(2), kind)
