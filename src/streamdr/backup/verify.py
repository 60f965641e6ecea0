"""Verifying backups: catalog vs objects, checksums, offset continuity, and the 3-2-1 rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from streamdr.backup.catalog import Finding, bounds_findings, continuity_findings
from streamdr.backup.model import ManifestEntry
from streamdr.backup.records import parquet_file
from streamdr.backup.store import BackupStore, Bounds, CorruptBackupError


@dataclass
class StoreVerification:
    """The verification of one backup copy."""

    store: str
    media: str
    offsite: bool
    deep: bool
    entries: int = 0
    files: int = 0
    records: int = 0
    bytes: int = 0
    findings: list[Finding] = field(default_factory=list)
    entry_keys: set[str] = field(default_factory=set, repr=False)

    @property
    def errors(self) -> list[Finding]:
        """Return the findings that fail verification."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def passed(self) -> bool:
        """Return True when nothing is wrong with this copy."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """Return the verification as a JSON-ready mapping."""
        return {
            "store": self.store,
            "media": self.media,
            "offsite": self.offsite,
            "deep": self.deep,
            "passed": self.passed,
            "entries": self.entries,
            "files": self.files,
            "records": self.records,
            "bytes": self.bytes,
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "findings": [f.as_dict() for f in self.findings],
        }


def _read_entries(store: BackupStore, report: StoreVerification) -> list[ManifestEntry]:
    entries = []
    for key in store.entry_keys():
        try:
            entries.append(store.read_entry(key))
        except CorruptBackupError as exc:
            report.findings.append(Finding("error", "manifest", f"{store.name}:{key}", exc.message))
        report.entry_keys.add(key)
    return entries


def verify_store(
    store: BackupStore, *, deep: bool, on_file: Callable[[ManifestEntry], None] | None = None
) -> StoreVerification:
    """Return the verification of one copy: every entry's file present with the right size;
    with ``deep`` also sha256 and the Parquet contents (count, offsets, timestamps)."""
    cfg = store.objects.cfg
    report = StoreVerification(store.name, cfg.media_kind, cfg.offsite, deep)
    entries = _read_entries(store, report)
    bounds = _read_bounds(store, report)
    objects = {obj.key: obj for _seg, obj in store.data_objects()}
    for entry in entries:
        report.entries += 1
        report.records += entry.records
        if entry.key is None:
            continue
        report.files += 1
        report.bytes += entry.bytes
        where = f"{store.name}:{entry.key}"
        obj = objects.get(entry.key)
        if obj is None:
            report.findings.append(Finding("error", "missing", where, "data file is missing"))
        elif obj.size != entry.bytes:
            report.findings.append(
                Finding("error", "size", where, f"size {obj.size}, catalog says {entry.bytes}")
            )
        elif deep:
            report.findings += _deep_check(store, entry, where)
        if on_file:
            on_file(entry)
    referenced = {e.key for e in entries}
    # An uncataloged file is an error: it is what a deleted entry leaves behind, and restore
    # would silently skip its records. A crashed run's leftovers are removed by `backup run`.
    report.findings += [
        Finding("error", "orphan", f"{store.name}:{key}", "data file has no catalog entry")
        for key in sorted(set(objects) - referenced)
    ]
    report.findings += continuity_findings(entries)
    report.findings += bounds_findings(entries, bounds)
    return report


def _read_bounds(store: BackupStore, report: StoreVerification) -> Bounds:
    try:
        return store.bounds()
    except CorruptBackupError as exc:
        where = f"{store.name}:{store.prefix}"
        report.findings.append(Finding("error", "bounds", where, exc.message))
        return {}


def _deep_check(store: BackupStore, entry: ManifestEntry, where: str) -> list[Finding]:
    """Return problems in one file's bytes and contents."""
    try:
        data = store.read_data(entry)
    except CorruptBackupError as exc:
        return [Finding("error", "checksum", where, exc.message)]
    try:
        store.check_schema(entry, data)
        table = parquet_file(data).read(columns=["offset", "timestamp"])
    except CorruptBackupError as exc:
        return [Finding("error", "schema", where, exc.message)]
    except (pa.ArrowException, OSError) as exc:
        return [Finding("error", "corrupt", where, f"not readable Parquet: {exc}")]
    offsets = table.column("offset")
    stamps = table.column("timestamp").cast(pa.int64())
    problems = []
    if table.num_rows != entry.records:
        problems.append(f"{table.num_rows} records, catalog says {entry.records}")
    elif table.num_rows:
        if (offsets[0].as_py(), offsets[-1].as_py()) != (entry.first_offset, entry.last_offset):
            problems.append("first/last offsets differ from the catalog")
        if (
            table.num_rows > 1
            and not pc.all(
                pc.greater(
                    offsets.slice(1).combine_chunks(),
                    offsets.slice(0, table.num_rows - 1).combine_chunks(),
                )
            ).as_py()
        ):
            problems.append("offsets are not strictly increasing")
        mm = pc.min_max(stamps)
        if (mm["min"].as_py(), mm["max"].as_py()) != (entry.min_timestamp, entry.max_timestamp):
            problems.append("min/max timestamps differ from the catalog")
    return [Finding("error", "contents", where, p) for p in problems]


@dataclass(frozen=True)
class RuleResult:
    """The verdict of the 3-2-1 rule over the backup copies."""

    passed: bool
    copies: tuple[str, ...]
    media: tuple[str, ...]
    offsite: tuple[str, ...]
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the verdict as a JSON-ready mapping."""
        return {
            "rule": "3-2-1",
            "passed": self.passed,
            "complete_verified_copies": list(self.copies),
            "media_kinds": list(self.media),
            "offsite_copies": list(self.offsite),
            "reasons": list(self.reasons),
        }


def evaluate_321(reports: list[StoreVerification]) -> RuleResult:
    """Return the 3-2-1 verdict (pure): the live cluster plus >= 2 complete, verified copies,
    on >= 2 kinds of media, >= 1 of them offsite.

    ``reports[0]`` is the primary backup; a copy is complete when it holds every catalog entry
    the primary holds (an archive store holding only old files is therefore not a copy).
    """
    union = reports[0].entry_keys if reports else set()
    good = [r for r in reports if r.passed and r.entry_keys and r.entry_keys >= union]
    media = tuple(sorted({r.media for r in good}))
    offsite = tuple(r.store for r in good if r.offsite)
    reasons = []
    for r in reports:
        if r not in good:
            missing = len(union - r.entry_keys)
            why = (
                "is empty"
                if not r.entry_keys
                else (f"lacks {missing} entries" if missing else f"has {len(r.errors)} errors")
            )
            reasons.append(f"copy {r.store} does not count: it {why}")
    if len(good) < 2:
        reasons.append(
            f"{len(good)} complete, verified backup copies; "
            "the rule needs 2 besides the live cluster"
        )
    if len(media) < 2:
        reasons.append(
            f"copies are on {len(media)} kind(s) of media ({', '.join(media) or 'none'}); "
            "the rule needs 2"
        )
    if not offsite:
        reasons.append("no complete, verified copy is marked offsite (stores.<name>.offsite: true)")
    passed = len(good) >= 2 and len(media) >= 2 and bool(offsite)
    return RuleResult(passed, tuple(r.store for r in good), media, offsite, tuple(reasons))
