"""The domain backup store, one contract on a local directory and on a real S3 API server."""

import json
import re
import stat
from dataclasses import replace

import pyarrow as pa
import pytest

from streamdr.backup import layout
from streamdr.backup.layout import format_snapshot_id
from streamdr.backup.model import (
    GAP_RETENTION,
    Gap,
    GroupOffsets,
    GroupsSnapshot,
    ManifestEntry,
    TopicInfo,
    TopicPartition,
    TopicsSnapshot,
)
from streamdr.backup.records import ColumnBuffer, encode_parquet, sha256_hex
from streamdr.backup.retention import STRATEGY, RetentionAction, RetentionPlan, apply_retention
from streamdr.backup.store import BackupStore, CorruptBackupError, sync_copies
from streamdr.backup.verify import verify_store
from streamdr.clock import utcnow
from streamdr.errors import InputError
from streamdr.objectstore.store import ObjectStore, UnsafeKeyError
from streamdr.settings.model import StoreSettings

PREFIX = "kafka/primary"


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        objects = ObjectStore("local", StoreSettings(url=str(tmp_path / "backups")))
    else:
        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("s3_server")
        objects = ObjectStore(
            "s3", StoreSettings(url=f"s3://{bucket}/root", endpoint_override=endpoint, offsite=True)
        )
    return BackupStore(objects, PREFIX)


def segment(partition, first, n, ts0=1_700_000_000_000):
    buf = ColumnBuffer("orders", partition)
    for i in range(n):
        buf.offsets.append(first + i)
        buf.timestamps.append(ts0 + i)
        buf.ts_types.append(1)
        buf.keys.append(None if i % 2 else f"k{i}".encode())
        buf.values.append(None if i % 5 == 0 else bytes([i % 256]) * 10)
        buf.headers.append([("h", b"1"), ("h", None)] if i % 3 == 0 else None)
    entry = ManifestEntry(
        "orders", partition, first, first + n, n, first, first + n - 1, ts0, ts0 + n - 1
    )
    return buf.to_table(), entry


def write(store, partition, first, n):
    table, entry = segment(partition, first, n)
    return store.write_segment(table, entry)


def test_write_segment_then_read_back(store):
    e1 = write(store, 0, 0, 100)
    e2 = write(store, 0, 100, 50)
    write(store, 1, 0, 10)
    assert e1.key.endswith("00000000000000000000-00000000000000000099.parquet")
    assert "/year=2023/month=11/day=14/" in e1.key
    assert e1.sha256 and e1.bytes > 0 and e1.written_at
    entries = store.manifests("orders")
    assert [(e.partition, e.first_offset) for e in entries] == [(0, 0), (0, 100), (1, 0)]
    assert entries[1] == e2
    rows = sum(b.num_rows for b in store.batches(e1))
    assert rows == 100
    values = [v for b in store.batches(e1) for v in b.column("value").to_pylist()]
    assert values[0] is None and values[1] == b"\x01" * 10
    assert store.topics() == ["orders"]


def test_gap_entries_are_cataloged_without_data(store):
    gap = ManifestEntry("orders", 2, 0, 40, 0, gaps=(Gap(0, 40, GAP_RETENTION),))
    store.put_entry(gap)
    (back,) = store.manifests("orders")
    assert back.key is None and back.lost == 40 and back.balanced()
    assert store.entry_key(back).endswith("00000000000000000000-00000000000000000039.gap.json")


def test_corrupted_and_missing_files_are_reported_by_path(store):
    e = write(store, 0, 0, 20)
    ok = verify_store(store, deep=True)
    assert ok.passed and ok.files == 1 and ok.records == 20
    store.objects.put_bytes(e.key, b"PAR1 not really parquet")
    with pytest.raises(CorruptBackupError, match=e.key):
        list(store.batches(e))
    deep = verify_store(store, deep=True)
    assert not deep.passed
    assert [(f.kind, f.where) for f in deep.errors] == [("size", f"{store.name}:{e.key}")]
    store.objects.delete(e.key)
    missing = verify_store(store, deep=False)
    assert [f.kind for f in missing.errors] == ["missing"]
    with pytest.raises(CorruptBackupError, match="missing"):
        store.read_data(e)


def test_same_size_corruption_is_caught_by_sha256(store):
    e = write(store, 0, 0, 20)
    raw = bytearray(store.objects.get_bytes(e.key))
    raw[len(raw) // 2] ^= 0xFF
    store.objects.put_bytes(e.key, bytes(raw))
    assert verify_store(store, deep=False).passed  # sizes still match
    deep = verify_store(store, deep=True)
    assert [f.kind for f in deep.errors] == ["checksum"]


def test_orphans_and_unparseable_entries(store):
    e = write(store, 0, 0, 10)
    store.objects.delete(store.entry_key(e))
    report = verify_store(store, deep=False)
    assert not report.passed
    assert [(f.kind, f.severity) for f in report.findings] == [
        ("orphan", "error"),
        ("missing-all", "error"),
    ]
    e2 = write(store, 0, 10, 10)
    store.objects.put_bytes(store.entry_key(e2), b"{not json")
    bad = verify_store(store, deep=False)
    assert "manifest" in [f.kind for f in bad.errors]
    with pytest.raises(CorruptBackupError):
        store.manifests()


def test_delete_entry_removes_entry_and_file(store):
    e = write(store, 0, 0, 10)
    store.delete_entry(e)
    assert store.manifests() == [] and store.data_objects() == []


def test_copies_are_identical_and_sync_is_idempotent(store, tmp_path):
    copy = BackupStore(ObjectStore("copy", StoreSettings(url=str(tmp_path / "copy"))), PREFIX)
    write(store, 0, 0, 10)
    write(store, 0, 10, 10)
    store.put_snapshot(_groups())
    assert sync_copies(store, [copy]) == {"copy": 2}
    assert sync_copies(store, [copy]) == {"copy": 0}
    assert copy.manifests() == store.manifests()
    assert copy.snapshot_ids("groups") == store.snapshot_ids("groups")
    assert verify_store(copy, deep=True).passed


def _groups():
    at = utcnow()
    return GroupsSnapshot(
        format_snapshot_id(at),
        "primary",
        at,
        {"g": GroupOffsets("g", "EMPTY", {TopicPartition("orders", 0): 5})},
    )


def test_snapshots_newest_wins_and_unknown_ids_are_input_errors(store):
    assert store.groups_snapshot() is None and store.latest_topic_info("orders") is None
    g = _groups()
    store.put_snapshot(g)
    at = utcnow()
    t = TopicsSnapshot(
        format_snapshot_id(at), "primary", at, {"orders": TopicInfo("orders", 6, 3, {"a": "b"})}
    )
    store.put_snapshot(t)
    assert store.groups_snapshot().groups["g"].for_topic("orders") == {0: 5}
    assert store.groups_snapshot(g.snapshot_id).snapshot_id == g.snapshot_id
    assert store.latest_topic_info("orders") == TopicInfo("orders", 6, 3, {"a": "b"})
    with pytest.raises(InputError):
        store.groups_snapshot("20990101T000000000Z")
    with pytest.raises(InputError):
        store.groups_snapshot("not-an-id")


def test_missing_s3_credential_env_is_an_input_error(s3_server):
    objects = ObjectStore(
        "s3",
        StoreSettings(
            url="s3://b/p", endpoint_override=s3_server, access_key_env="STREAMDR_TEST_NO_SUCH_VAR"
        ),
    )
    with pytest.raises(InputError, match="STREAMDR_TEST_NO_SUCH_VAR"):
        BackupStore(objects, PREFIX).manifests()


# ----- hostile catalogs --------------------------------------------------------------------
HOSTILE_KEY = "../../victims/precious.txt"


def _plant_hostile_entry(store):
    """Write a well-formed catalog entry (at a valid catalog key) whose data key escapes."""
    e = write(store, 0, 0, 10)
    doc = {**e.as_dict(), "key": HOSTILE_KEY}
    store.objects.put_bytes(store.entry_key(e), json.dumps(doc).encode())
    return replace(e, key=HOSTILE_KEY)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victims" / "precious.txt"
    path.parent.mkdir()
    path.write_bytes(b"keep me")
    return path


def test_hostile_catalog_key_is_refused_by_retention_and_archive(store, tmp_path, victim):
    hostile = _plant_hostile_entry(store)
    archive = BackupStore(ObjectStore("archive", StoreSettings(url=str(tmp_path / "ar"))), PREFIX)
    catalog = r"catalog entry .*00000000000000000009\.json"
    with pytest.raises(CorruptBackupError, match=catalog) as ei:
        store.manifests()
    assert isinstance(ei.value, InputError) and HOSTILE_KEY in ei.value.message
    # Even an entry that skipped validation cannot reach outside the store.
    with pytest.raises(UnsafeKeyError, match=re.escape(HOSTILE_KEY)):
        apply_retention(_plan_of("archive", hostile, "archive"), {"s": store, "archive": archive})
    with pytest.raises(UnsafeKeyError, match=re.escape(HOSTILE_KEY)):
        apply_retention(_plan_of("delete", hostile), {"s": store, "archive": archive})
    assert victim.read_bytes() == b"keep me"
    assert archive.objects.list() == []


def _plan_of(kind, entry, to_store=None):
    action = RetentionAction(kind, "s", entry, 4000.0, to_store)
    return RetentionPlan(utcnow(), STRATEGY, (action,))


@pytest.mark.parametrize(
    "change",
    [
        {"key": "kafka/primary/topics/orders/partition=0/year=2023/month=11/day=14/x.parquet"},
        {"partition": 1},
        {"topic": "other"},
        {"first_offset": 1},
        {"min_timestamp": 1_600_000_000_000},
        {"records": 0},
    ],
)
def test_entry_must_match_the_key_its_offsets_derive(store, change):
    e = write(store, 0, 0, 10)
    store.objects.put_bytes(store.entry_key(e), json.dumps({**e.as_dict(), **change}).encode())
    with pytest.raises(CorruptBackupError, match=re.escape(store.entry_key(e))):
        store.manifests()
    assert "manifest" in [f.kind for f in verify_store(store, deep=False).errors]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"topic": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"topic": "orders"}',
        b" " * (2 << 20),
    ],
    ids=["nested-array", "nested-field", "missing-fields", "too-large"],
)
def test_malformed_catalog_documents_are_corrupt_backup_errors(store, raw):
    e = write(store, 0, 0, 10)
    store.objects.put_bytes(store.entry_key(e), raw)
    with pytest.raises(CorruptBackupError, match="is not valid"):
        store.manifests()


def test_snapshots_with_missing_fields_or_deep_nesting_are_corrupt_backup_errors(store):
    g = _groups()
    key = store.put_snapshot(g)
    for raw in (
        json.dumps({k: v for k, v in g.as_dict().items() if k != "groups"}).encode(),
        b"{" + b'"a":{' * 50_000 + b"}" * 50_001,
        json.dumps({**g.as_dict(), "id": "20200101T000000000Z"}).encode(),
    ):
        store.objects.put_bytes(key, raw)
        with pytest.raises(CorruptBackupError, match=re.escape(key)):
            store.groups_snapshot()


def test_wrong_parquet_schema_is_a_corrupt_backup_error(store):
    e = write(store, 0, 0, 10)
    data = encode_parquet(pa.table({"offset": pa.array(range(10), pa.int64())}))
    fake = replace(e, bytes=data.size, sha256=sha256_hex(data))
    store.objects.put_bytes(e.key, data.to_pybytes())
    store.objects.put_bytes(store.entry_key(e), json.dumps(fake.as_dict()).encode())
    with pytest.raises(CorruptBackupError, match="does not have the record schema"):
        list(store.batches(fake))
    assert [f.kind for f in verify_store(store, deep=True).errors] == ["schema"]


# ----- deleted first, middle and last entries -----------------------------------------------
@pytest.mark.parametrize(
    ("victim_index", "kind"), [(0, "missing-head"), (2, "missing-tail"), (1, "continuity")]
)
@pytest.mark.parametrize("with_file", [True, False], ids=["entry-only", "entry-and-file"])
def test_deleted_entries_fail_verification(store, victim_index, kind, with_file):
    entries = [write(store, 0, 0, 10), write(store, 0, 10, 10), write(store, 0, 20, 10)]
    assert verify_store(store, deep=False).passed
    gone = entries[victim_index]
    store.objects.delete(store.entry_key(gone))
    if not with_file:
        store.objects.delete(gone.key)
    report = verify_store(store, deep=False)
    kinds = [f.kind for f in report.errors]
    assert not report.passed and kind in kinds
    assert ("orphan" in kinds) == with_file


def test_bounds_follow_writes_and_retention_deletes(store):
    entries = [write(store, 0, 0, 10), write(store, 0, 10, 10)]
    tp = TopicPartition("orders", 0)
    assert store.bounds() == {tp: (0, 20)}
    store.delete_entry(entries[0])
    assert store.bounds() == {tp: (10, 20)} and verify_store(store, deep=False).passed
    store.delete_entry(entries[1])
    assert store.bounds() == {} and verify_store(store, deep=False).passed


def test_invalid_topic_names_are_input_errors(store):
    for topic in ("../../etc", "a/b", ".."):
        with pytest.raises(InputError, match="not a valid Kafka topic name"):
            store.manifests(topic)


def test_a_missing_bounds_record_is_rebuilt_from_the_catalog_keys(store):
    write(store, 0, 0, 10)
    write(store, 0, 10, 10)
    store.objects.delete(layout.format_bounds_key(PREFIX, "orders", 0))
    assert [f.kind for f in verify_store(store, deep=False).findings] == ["no-bounds"]
    write(store, 0, 20, 10)
    assert store.bounds() == {TopicPartition("orders", 0): (0, 30)}


def test_local_backup_files_are_0600_and_directories_0700(tmp_path):
    objects = ObjectStore("local", StoreSettings(url=str(tmp_path / "backups")))
    store = BackupStore(objects, PREFIX)
    write(store, 0, 0, 10)
    store.put_snapshot(_groups())
    paths = list((tmp_path / "backups").rglob("*"))
    files = [p for p in paths if p.is_file()]
    assert len(files) == 4  # data file, catalog entry, bounds record, snapshot
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    dirs = [tmp_path / "backups", *(p for p in paths if p.is_dir())]
    assert {stat.S_IMODE(p.stat().st_mode) for p in dirs} == {0o700}
