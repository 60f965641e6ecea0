"""The domain backup store: data files, catalog entries and snapshots under one prefix.

Third of the three storage layers (raw ObjectStore → pure layout → this). Backup, restore,
verification and retention use only this class. Write order is what makes a crash harmless:
a data file is written (atomically) before its catalog entry, so an entry always points at a
complete file; deletion removes the entry first, so a crash leaves at worst an orphan file that
`backup verify` reports and the next `backup run` removes.

Each partition also has a bounds record (the first and end offset its catalog must cover), so
a deleted first or last entry is detectable. It is widened after an entry is written and
narrowed before one is deleted: a crash leaves an entry outside the bounds (harmless), never
bounds without an entry. Catalog entries are hostile input: one is accepted only when its
document has the shape streamdr writes and its data key is the one the layout derives from its
topic, partition and offsets, under the catalog key it was read from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

import pyarrow as pa

from streamdr.backup import documents, layout
from streamdr.backup.documents import DocumentError
from streamdr.backup.layout import ManifestKey, SegmentKey, SnapshotKey
from streamdr.backup.model import (
    GroupsSnapshot,
    ManifestEntry,
    TopicInfo,
    TopicPartition,
    TopicsSnapshot,
)
from streamdr.backup.records import SCHEMA, encode_parquet, iter_batches, parquet_file, sha256_hex
from streamdr.clock import iso, utcnow
from streamdr.errors import InputError
from streamdr.objectstore.store import (
    ObjectInfo,
    ObjectMissingError,
    ObjectStore,
    ObjectTooLargeError,
)

_S = TypeVar("_S", TopicsSnapshot, GroupsSnapshot)

Bounds = dict[TopicPartition, tuple[int, int]]
"""Per partition, the ``[start, end)`` offsets its catalog must cover."""

READ_THREADS = 16


class CorruptBackupError(InputError):
    """A backup object is missing, unreadable or does not match its catalog entry."""


class BackupStore:
    """One backup (a prefix) in one object store."""

    def __init__(self, objects: ObjectStore, prefix: str) -> None:
        self.objects = objects
        self.prefix = layout.check_prefix(prefix)

    @property
    def name(self) -> str:
        """Return the object store's name in the settings."""
        return self.objects.name

    def __repr__(self) -> str:
        return f"BackupStore({self.name!r}, {self.prefix!r})"

    # ----- writing -----------------------------------------------------------------------
    def write_segment(self, table: pa.Table, entry: ManifestEntry) -> ManifestEntry:
        """Write ``table`` as a data file, then its catalog entry; return the final entry.

        ``entry`` carries the offsets, counts and gaps; key, size, sha256 and write time are
        filled in here. Raises UnreachableError when the store fails (nothing is cataloged).
        """
        if entry.first_offset is None or entry.last_offset is None or entry.min_timestamp is None:
            raise ValueError("a data entry needs first/last offset and timestamps")
        day = layout.day_of(entry.min_timestamp if entry.records else 0)
        seg = SegmentKey(entry.topic, entry.partition, entry.first_offset, entry.last_offset, *day)
        key = layout.format_segment_key(self.prefix, seg)
        data = encode_parquet(table)
        self.objects.put_bytes(key, data)
        final = replace(
            entry, key=key, bytes=data.size, sha256=sha256_hex(data), written_at=iso(utcnow())
        )
        self.put_entry(final)
        return final

    def put_entry(self, entry: ManifestEntry) -> None:
        """Write one catalog entry (its data file, if any, must already be durable), then widen
        its partition's bounds to include it."""
        if not entry.written_at:
            entry = replace(entry, written_at=iso(utcnow()))
        doc = json.dumps(entry.as_dict(), sort_keys=True).encode()
        self.objects.put_bytes(self.entry_key(entry), doc)
        stored = self.partition_bounds(entry.tp)
        old = stored or self._bounds_from_keys(entry.tp)
        start, end = entry.start_offset, entry.end_offset
        if old is not None:
            start, end = min(start, old[0]), max(end, old[1])
        if stored != (start, end):
            self._put_bounds(entry.tp, start, end)

    def _bounds_from_keys(self, tp: TopicPartition) -> tuple[int, int] | None:
        """Return bounds covering the partition's existing catalog keys (for a partition whose
        bounds record is missing: a backup from before bounds records, or a deleted one)."""
        keys = [layout.parse_manifest_key(self.prefix, k) for k in self.entry_keys(tp.topic)]
        mine = [mk for mk in keys if mk.partition == tp.partition]
        if not mine:
            return None
        # A data entry's key starts at its first record, which may follow its start offset:
        # the bounds then start a little late, which can hide a hole but never invent one.
        return min(mk.first_offset for mk in mine), max(mk.last_offset + 1 for mk in mine)

    def _put_bounds(self, tp: TopicPartition, start: int, end: int) -> None:
        doc = {
            "kind": "bounds",
            "topic": tp.topic,
            "partition": tp.partition,
            "start_offset": start,
            "end_offset": end,
            "updated_at": iso(utcnow()),
        }
        key = layout.format_bounds_key(self.prefix, tp.topic, tp.partition)
        self.objects.put_bytes(key, json.dumps(doc, sort_keys=True).encode())

    def entry_key(self, entry: ManifestEntry) -> str:
        """Return the catalog key of ``entry`` (data entries by record range, gaps by offsets)."""
        if entry.has_data:
            first, last, gap = entry.first_offset or 0, entry.last_offset or 0, False
        else:
            first, last, gap = entry.start_offset, entry.end_offset - 1, True
        mk = ManifestKey(entry.topic, entry.partition, first, last, gap)
        return layout.format_manifest_key(self.prefix, mk)

    # ----- reading -----------------------------------------------------------------------
    def entry_keys(self, topic: str | None = None) -> list[str]:
        """Return the catalog keys (optionally of one topic), in key order.

        Raises InputError when ``topic`` is not a valid topic name.
        """
        keys = []
        for obj in self.objects.list(self._catalog_prefix(topic)):
            try:
                layout.parse_manifest_key(self.prefix, obj.key)
            except layout.LayoutError:
                continue
            keys.append(obj.key)
        return keys

    def manifests(self, topic: str | None = None) -> list[ManifestEntry]:
        """Return every catalog entry (optionally of one topic), by topic, partition, offset.

        Raises CorruptBackupError naming the entry when one cannot be parsed.
        """
        keys = self.entry_keys(topic)
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            entries = list(pool.map(self.read_entry, keys))
        return sorted(entries, key=lambda e: (e.topic, e.partition, e.start_offset))

    def read_entry(self, key: str) -> ManifestEntry:
        """Return the catalog entry stored under ``key``.

        Raises CorruptBackupError naming the catalog and key when the document is too large,
        malformed, or names a data key other than the one its offsets give (a tampered catalog).
        """
        try:
            raw = self.objects.get_bytes(key, max_bytes=documents.MAX_ENTRY_BYTES)
            entry = documents.parse_entry(raw)
            self._check_entry_keys(key, entry)
        except (DocumentError, layout.LayoutError, InputError) as exc:
            detail = exc.message if isinstance(exc, InputError) else str(exc)
            raise CorruptBackupError(
                f"catalog entry {self._where(key)} is not valid: {detail}",
                hint="Run `backup verify` for the full list; restore from another copy "
                "(--target) if the entry cannot be repaired.",
            ) from exc
        return entry

    def _check_entry_keys(self, key: str, entry: ManifestEntry) -> None:
        """Raise DocumentError unless ``entry`` belongs under ``key`` and its data key is the
        one the layout derives from its topic, partition, offsets and first timestamp."""
        if self.entry_key(entry) != key:
            raise DocumentError(
                f"its topic/partition/offsets belong under {self.entry_key(entry)!r}, not here"
            )
        if entry.key is None:
            return
        if entry.first_offset is None or entry.last_offset is None or entry.min_timestamp is None:
            raise DocumentError("a data entry needs first/last offset and min_timestamp")
        day = layout.day_of(entry.min_timestamp)
        seg = SegmentKey(entry.topic, entry.partition, entry.first_offset, entry.last_offset, *day)
        expected = layout.format_segment_key(self.prefix, seg)
        if entry.key != expected or not entry.has_data:
            raise DocumentError(f"data key {entry.key!r} is not the expected {expected!r}")

    def bounds(self, topic: str | None = None) -> Bounds:
        """Return the bounds records (optionally of one topic) by partition.

        Raises CorruptBackupError naming the record when one is malformed or misplaced.
        """
        found: Bounds = {}
        for obj in self.objects.list(self._catalog_prefix(topic)):
            try:
                tp = TopicPartition(*layout.parse_bounds_key(self.prefix, obj.key))
            except layout.LayoutError:
                continue
            found[tp] = self._read_bounds(obj.key, tp)
        return found

    def partition_bounds(self, tp: TopicPartition) -> tuple[int, int] | None:
        """Return one partition's bounds, or None when it has no bounds record.

        Raises CorruptBackupError naming the record when it is malformed or misplaced.
        """
        key = layout.format_bounds_key(self.prefix, tp.topic, tp.partition)
        try:
            return self._read_bounds(key, tp)
        except ObjectMissingError:
            return None

    def _read_bounds(self, key: str, tp: TopicPartition) -> tuple[int, int]:
        try:
            raw = self.objects.get_bytes(key, max_bytes=documents.MAX_ENTRY_BYTES)
            named, start, end = documents.parse_bounds(raw)
        except (DocumentError, ObjectTooLargeError) as exc:
            raise CorruptBackupError(
                f"bounds record {self._where(key)} is not valid: {exc}",
                hint="Restore it from another copy, or delete it: the next catalog write "
                "rebuilds it from the catalog keys.",
            ) from exc
        if named != tp:
            raise CorruptBackupError(
                f"bounds record {self._where(key)} names {named}, not {tp}",
                hint="Restore it from another copy, or delete it: the next catalog write "
                "rebuilds it from the catalog keys.",
            )
        return start, end

    def _catalog_prefix(self, topic: str | None) -> str:
        try:
            return layout.catalog_prefix(self.prefix, topic)
        except layout.LayoutError as exc:
            raise InputError(str(exc), hint=_TOPIC_HINT) from exc

    def _topics_prefix(self, topic: str | None) -> str:
        try:
            return layout.topics_prefix(self.prefix, topic)
        except layout.LayoutError as exc:
            raise InputError(str(exc), hint=_TOPIC_HINT) from exc

    def topics(self) -> list[str]:
        """Return the topics that have catalog entries."""
        return sorted({layout.parse_manifest_key(self.prefix, k).topic for k in self.entry_keys()})

    def data_objects(self, topic: str | None = None) -> list[tuple[SegmentKey, ObjectInfo]]:
        """Return every data file (optionally of one topic) with its parsed key."""
        found = []
        for obj in self.objects.list(self._topics_prefix(topic)):
            try:
                found.append((layout.parse_segment_key(self.prefix, obj.key), obj))
            except layout.LayoutError:
                continue
        return found

    def read_data(self, entry: ManifestEntry) -> pa.Buffer:
        """Return the bytes of ``entry``'s data file after checking size and sha256.

        Raises CorruptBackupError (by path) when the file is missing or does not match.
        """
        if entry.key is None:
            raise ValueError("a gap entry has no data file")
        try:
            with self.objects.open_input(entry.key) as src:
                data = src.read_buffer()
        except ObjectMissingError as exc:
            raise CorruptBackupError(
                f"data file {self._where(entry.key)} is missing",
                hint="Restore from another copy with --target, or run `backup verify`.",
            ) from exc
        if data.size != entry.bytes or sha256_hex(data) != entry.sha256:
            raise CorruptBackupError(
                f"data file {self._where(entry.key)} does not match its catalog entry "
                f"(size {data.size} vs {entry.bytes} or sha256 differs)",
                hint="The file is corrupted; restore from another copy with --target.",
            )
        return data

    def batches(
        self, entry: ManifestEntry, columns: list[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Yield the record batches of ``entry`` (verified first); raises CorruptBackupError
        when the file is missing, differs from its entry, or is not Parquet of our schema."""
        data = self.read_data(entry)
        try:
            self.check_schema(entry, data)
            yield from iter_batches(data, columns)
        except (pa.ArrowException, OSError) as exc:
            raise CorruptBackupError(
                f"data file {self._where(entry.key or '')} is not readable Parquet: {exc}",
                hint="Restore from another copy with --target.",
            ) from exc

    def check_schema(self, entry: ManifestEntry, data: pa.Buffer) -> None:
        """Raise CorruptBackupError unless ``data`` is Parquet with the record columns and types
        streamdr writes (pyarrow errors while reading the footer propagate)."""
        schema = parquet_file(data).schema_arrow
        expected = [(f.name, f.type) for f in SCHEMA]
        if [(f.name, f.type) for f in schema] != expected:
            raise CorruptBackupError(
                f"data file {self._where(entry.key or '')} does not have the record schema: "
                f"columns {', '.join(f'{f.name}:{f.type}' for f in schema)}",
                hint="The file was not written by `backup run`; restore from another copy.",
            )

    def _where(self, key: str) -> str:
        return f"{self.name}:{key}"

    # ----- copying and deleting ----------------------------------------------------------
    def copy_entry_to(self, entry: ManifestEntry, other: BackupStore) -> None:
        """Copy ``entry`` (data file first, then the catalog entry) into ``other``."""
        if other.prefix != self.prefix:
            raise ValueError("copies keep the same prefix so that keys stay identical")
        if entry.key is not None:
            self.objects.copy_to(entry.key, other.objects)
        other.put_entry(entry)

    def delete_entry(self, entry: ManifestEntry) -> None:
        """Delete ``entry``: narrow its partition's bounds, then delete the catalog entry, then
        its data file (each step leaves a state `backup verify` accepts)."""
        old = self.partition_bounds(entry.tp)
        key = layout.format_bounds_key(self.prefix, entry.topic, entry.partition)
        if old is not None and old[0] >= entry.start_offset:
            if entry.end_offset >= old[1]:
                self.objects.delete(key)  # the partition's last entry goes
            else:
                self._put_bounds(entry.tp, max(old[0], entry.end_offset), old[1])
        self.objects.delete(self.entry_key(entry))
        if entry.key is not None:
            self.objects.delete(entry.key)

    def delete_object(self, key: str) -> None:
        """Delete one object under this backup (e.g. an orphan data file)."""
        self.objects.delete(key)

    # ----- snapshots ---------------------------------------------------------------------
    def put_snapshot(self, snapshot: TopicsSnapshot | GroupsSnapshot) -> str:
        """Write a snapshot and return its key."""
        kind = "topics" if isinstance(snapshot, TopicsSnapshot) else "groups"
        key = layout.format_snapshot_key(self.prefix, SnapshotKey(kind, snapshot.snapshot_id))
        self.objects.put_bytes(key, json.dumps(snapshot.as_dict(), sort_keys=True).encode())
        return key

    def snapshot_ids(self, kind: str) -> list[str]:
        """Return the ids of stored snapshots of ``kind``, oldest first."""
        ids = []
        for obj in self.objects.list(layout.snapshots_prefix(self.prefix, kind)):
            try:
                ids.append(layout.parse_snapshot_key(self.prefix, obj.key).snapshot_id)
            except layout.LayoutError:
                continue
        return sorted(ids)

    def _snapshot(self, kind: str, snapshot_id: str, parse: Callable[[bytes], _S]) -> _S:
        """Return the snapshot ``snapshot_id`` of ``kind`` parsed by ``parse``.

        Raises InputError for an unknown or malformed id, CorruptBackupError for a document
        that is too large, malformed, or names another id.
        """
        try:
            key = layout.format_snapshot_key(self.prefix, SnapshotKey(kind, snapshot_id))
        except layout.LayoutError as exc:
            raise InputError(str(exc), hint="`backup list --json` shows snapshot ids.") from exc
        try:
            snap = parse(self.objects.get_bytes(key, max_bytes=documents.MAX_SNAPSHOT_BYTES))
        except ObjectMissingError as exc:
            raise InputError(
                f"no {kind} snapshot {snapshot_id!r} in {self.name}:{self.prefix}",
                hint="`backup list --json` shows the snapshot ids.",
            ) from exc
        except (DocumentError, InputError) as exc:
            detail = exc.message if isinstance(exc, InputError) else str(exc)
            raise CorruptBackupError(
                f"snapshot {self._where(key)} is not valid: {detail}",
                hint="Pass another snapshot id (`backup list --json`), or restore the file "
                "from another copy (--target).",
            ) from exc
        if snap.snapshot_id != snapshot_id:
            raise CorruptBackupError(
                f"snapshot {self._where(key)} says its id is {snap.snapshot_id!r}",
                hint="The file was renamed or tampered with; use another snapshot id.",
            )
        return snap

    def groups_snapshot(self, snapshot_id: str | None = None) -> GroupsSnapshot | None:
        """Return a groups snapshot (the newest when ``snapshot_id`` is None), or None if none.

        Raises InputError for an unknown id, CorruptBackupError for a malformed document.
        """
        ids = self.snapshot_ids("groups") if snapshot_id is None else [snapshot_id]
        return self._snapshot("groups", ids[-1], documents.parse_groups_snapshot) if ids else None

    def topics_snapshot(self, snapshot_id: str | None = None) -> TopicsSnapshot | None:
        """Return a topics snapshot (the newest when ``snapshot_id`` is None), or None if none.

        Raises InputError for an unknown id, CorruptBackupError for a malformed document.
        """
        ids = self.snapshot_ids("topics") if snapshot_id is None else [snapshot_id]
        return self._snapshot("topics", ids[-1], documents.parse_topics_snapshot) if ids else None

    def latest_topic_info(self, topic: str) -> TopicInfo | None:
        """Return the newest TopicInfo of ``topic`` found in the topics snapshots, or None."""
        for snapshot_id in reversed(self.snapshot_ids("topics")):
            snap = self.topics_snapshot(snapshot_id)
            if snap is not None and topic in snap.topics:
                return snap.topics[topic]
        return None


def sync_copies(primary: BackupStore, copies: Iterable[BackupStore]) -> dict[str, int]:
    """Copy every catalog entry of ``primary`` that a copy lacks; return copied counts by store.

    Copies get identical keys, so a copy never overlaps the primary; only entries are copied
    whose data is durable in the primary (they are cataloged there).
    """
    copied: dict[str, int] = {}
    entries: list[ManifestEntry] | None = None
    for copy in copies:
        entries = entries if entries is not None else primary.manifests()
        have = set(copy.entry_keys())
        missing = [e for e in entries if primary.entry_key(e) not in have]
        for entry in missing:
            primary.copy_entry_to(entry, copy)
        for kind in layout.SNAPSHOT_KINDS:
            for snapshot_id in set(primary.snapshot_ids(kind)) - set(copy.snapshot_ids(kind)):
                key = layout.format_snapshot_key(primary.prefix, SnapshotKey(kind, snapshot_id))
                primary.objects.copy_to(key, copy.objects)
        copied[copy.name] = len(missing)
    return copied


_TOPIC_HINT = "Topic names use letters, digits, '.', '_' and '-' (`backup list` shows them)."
