"""The object layout of a backup: every key shape, built and parsed only here (pure).

::

    <prefix>/topics/<topic>/partition=<p>/year=YYYY/month=MM/day=DD/<first>-<last>.parquet
    <prefix>/catalog/<topic>/partition=<p>/<first>-<last>.json        manifest of one data file
    <prefix>/catalog/<topic>/partition=<p>/<first>-<last>.gap.json    offsets lost before backup
    <prefix>/catalog/<topic>/partition=<p>/bounds.json                first and end offset the
                                                                      catalog must cover
    <prefix>/snapshots/<kind>/<YYYYMMDDTHHMMSSmmmZ>.json              groups or topics snapshot

Offsets are zero-padded to 20 digits (as Kafka names its segment files) so that a plain key
listing is in offset order; ``first``/``last`` are inclusive. The day of a data file is the UTC
day of its first record's timestamp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

OFFSET_DIGITS = 20
TOPIC_RE = r"[A-Za-z0-9._-]{1,249}"
SNAPSHOT_KINDS = ("groups", "topics")
_SNAPSHOT_ID_FORMAT = "%Y%m%dT%H%M%S"


class LayoutError(ValueError):
    """A key or prefix does not have the shape this module builds."""


@dataclass(frozen=True, order=True)
class SegmentKey:
    """Where one data file lives: topic, partition, UTC day and inclusive offset range."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    year: int
    month: int
    day: int


@dataclass(frozen=True, order=True)
class ManifestKey:
    """Where one catalog entry lives; ``gap`` entries describe offsets with no data file."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    gap: bool = False


@dataclass(frozen=True, order=True)
class SnapshotKey:
    """Where one snapshot lives: its kind (``groups`` or ``topics``) and its id."""

    kind: str
    snapshot_id: str


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a clean relative key prefix; raises LayoutError otherwise."""
    parts = prefix.split("/")
    bad_chars = "\\" in prefix or "\x00" in prefix
    if not prefix or bad_chars or any(p in ("", ".", "..") for p in parts):
        raise LayoutError(f"backup prefix {prefix!r} must be a relative path like kafka/primary")
    return prefix


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid Kafka topic name (so a safe key segment).

    Raises LayoutError otherwise.
    """
    if not re.fullmatch(TOPIC_RE, topic) or topic in (".", ".."):
        raise LayoutError(f"{topic!r} is not a valid Kafka topic name")
    return topic


def _range(first: int, last: int) -> str:
    if first < 0 or last < first:
        raise LayoutError(f"offset range {first}-{last} is not a valid inclusive range")
    return f"{first:0{OFFSET_DIGITS}d}-{last:0{OFFSET_DIGITS}d}"


def topics_prefix(prefix: str, topic: str | None = None) -> str:
    """Return the key prefix of all data files, or of one topic's data files."""
    base = f"{check_prefix(prefix)}/topics"
    return f"{base}/{check_topic(topic)}" if topic else base


def catalog_prefix(prefix: str, topic: str | None = None) -> str:
    """Return the key prefix of the whole catalog, or of one topic's catalog entries."""
    base = f"{check_prefix(prefix)}/catalog"
    return f"{base}/{check_topic(topic)}" if topic else base


def snapshots_prefix(prefix: str, kind: str) -> str:
    """Return the key prefix of one kind of snapshot."""
    if kind not in SNAPSHOT_KINDS:
        raise LayoutError(f"snapshot kind {kind!r} is not one of {SNAPSHOT_KINDS}")
    return f"{check_prefix(prefix)}/snapshots/{kind}"


def day_of(timestamp_ms: int) -> tuple[int, int, int]:
    """Return the UTC (year, month, day) of a Kafka timestamp in milliseconds."""
    ts = datetime.fromtimestamp(max(timestamp_ms, 0) / 1000, UTC)
    return ts.year, ts.month, ts.day


def format_segment_key(prefix: str, seg: SegmentKey) -> str:
    """Return the object key of the data file ``seg``."""
    return (
        f"{topics_prefix(prefix, seg.topic)}/partition={seg.partition}"
        f"/year={seg.year:04d}/month={seg.month:02d}/day={seg.day:02d}"
        f"/{_range(seg.first_offset, seg.last_offset)}.parquet"
    )


_SEGMENT = re.compile(
    rf"(?P<topic>{TOPIC_RE})/partition=(?P<p>\d+)/year=(?P<y>\d{{4}})/month=(?P<m>\d{{2}})"
    rf"/day=(?P<d>\d{{2}})/(?P<first>\d{{{OFFSET_DIGITS}}})-(?P<last>\d{{{OFFSET_DIGITS}}})"
    r"\.parquet"
)


def parse_segment_key(prefix: str, key: str) -> SegmentKey:
    """Return the SegmentKey encoded in ``key``; raises LayoutError for any other key."""
    head = topics_prefix(prefix) + "/"
    m = _SEGMENT.fullmatch(key[len(head) :]) if key.startswith(head) else None
    if m is None:
        raise LayoutError(f"{key!r} is not a data file key under {prefix!r}")
    seg = SegmentKey(
        m["topic"],
        int(m["p"]),
        int(m["first"]),
        int(m["last"]),
        int(m["y"]),
        int(m["m"]),
        int(m["d"]),
    )
    if format_segment_key(prefix, seg) != key:
        raise LayoutError(f"{key!r} is not in canonical form")
    return seg


def format_manifest_key(prefix: str, mk: ManifestKey) -> str:
    """Return the object key of the catalog entry ``mk``."""
    suffix = ".gap.json" if mk.gap else ".json"
    return (
        f"{catalog_prefix(prefix, mk.topic)}/partition={mk.partition}"
        f"/{_range(mk.first_offset, mk.last_offset)}{suffix}"
    )


_MANIFEST = re.compile(
    rf"(?P<topic>{TOPIC_RE})/partition=(?P<p>\d+)"
    rf"/(?P<first>\d{{{OFFSET_DIGITS}}})-(?P<last>\d{{{OFFSET_DIGITS}}})(?P<gap>\.gap)?\.json"
)


def parse_manifest_key(prefix: str, key: str) -> ManifestKey:
    """Return the ManifestKey encoded in ``key``; raises LayoutError for any other key."""
    head = catalog_prefix(prefix) + "/"
    m = _MANIFEST.fullmatch(key[len(head) :]) if key.startswith(head) else None
    if m is None:
        raise LayoutError(f"{key!r} is not a catalog entry key under {prefix!r}")
    mk = ManifestKey(m["topic"], int(m["p"]), int(m["first"]), int(m["last"]), bool(m["gap"]))
    if format_manifest_key(prefix, mk) != key:
        raise LayoutError(f"{key!r} is not in canonical form")
    return mk


_BOUNDS_NAME = "bounds.json"


def format_bounds_key(prefix: str, topic: str, partition: int) -> str:
    """Return the object key of one partition's bounds record."""
    if partition < 0:
        raise LayoutError(f"partition {partition} is negative")
    return f"{catalog_prefix(prefix, topic)}/partition={partition}/{_BOUNDS_NAME}"


_BOUNDS = re.compile(rf"(?P<topic>{TOPIC_RE})/partition=(?P<p>\d+)/bounds\.json")


def parse_bounds_key(prefix: str, key: str) -> tuple[str, int]:
    """Return (topic, partition) of a bounds record key; raises LayoutError for any other key."""
    head = catalog_prefix(prefix) + "/"
    m = _BOUNDS.fullmatch(key[len(head) :]) if key.startswith(head) else None
    if m is None:
        raise LayoutError(f"{key!r} is not a bounds record key under {prefix!r}")
    topic, partition = m["topic"], int(m["p"])
    if format_bounds_key(prefix, topic, partition) != key:
        raise LayoutError(f"{key!r} is not in canonical form")
    return topic, partition


def format_snapshot_id(taken_at: datetime) -> str:
    """Return the sortable id of a snapshot taken at ``taken_at`` (UTC, milliseconds)."""
    ts = taken_at.astimezone(UTC)
    return f"{ts.strftime(_SNAPSHOT_ID_FORMAT)}{ts.microsecond // 1000:03d}Z"


def parse_snapshot_id(snapshot_id: str) -> datetime:
    """Return when the snapshot ``snapshot_id`` was taken; raises LayoutError if malformed."""
    m = re.fullmatch(r"(\d{8}T\d{6})(\d{3})Z", snapshot_id)
    if m is None:
        raise LayoutError(f"{snapshot_id!r} is not a snapshot id like 20250115T083000123Z")
    try:
        ts = datetime.strptime(m[1], _SNAPSHOT_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise LayoutError(f"{snapshot_id!r} is not a valid date") from exc
    return ts.replace(microsecond=int(m[2]) * 1000)


def format_snapshot_key(prefix: str, sk: SnapshotKey) -> str:
    """Return the object key of the snapshot ``sk``."""
    parse_snapshot_id(sk.snapshot_id)
    return f"{snapshots_prefix(prefix, sk.kind)}/{sk.snapshot_id}.json"


def parse_snapshot_key(prefix: str, key: str) -> SnapshotKey:
    """Return the SnapshotKey encoded in ``key``; raises LayoutError for any other key."""
    for kind in SNAPSHOT_KINDS:
        head = snapshots_prefix(prefix, kind) + "/"
        if key.startswith(head) and key.endswith(".json"):
            sk = SnapshotKey(kind, key[len(head) : -len(".json")])
            parse_snapshot_id(sk.snapshot_id)
            return sk
    raise LayoutError(f"{key!r} is not a snapshot key under {prefix!r}")
