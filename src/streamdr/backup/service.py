"""`backup run` end to end: pick topics, resume from the catalog, snapshot, write files."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamdr.backup import catalog
from streamdr.backup.history import Lease, finish_run, start_run
from streamdr.backup.model import ManifestEntry, TopicPartition
from streamdr.backup.ownership import PartitionLeases
from streamdr.backup.resume import plan_starts, remove_uncommitted
from streamdr.backup.scaleout import GroupPartitionWriter, PartitionClaims
from streamdr.backup.snapshots import take_groups_snapshot, take_topics_snapshot
from streamdr.backup.store import BackupStore, sync_copies
from streamdr.backup.writer import PartitionWriter, RollPolicy, StartPosition, WriterStats
from streamdr.clock import utcnow
from streamdr.errors import InputError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.restore.groups import GroupAdmin
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


@dataclass(frozen=True)
class BackupOptions:
    """What `backup run` was asked to do."""

    site: str
    topics_regex: str | None = None
    continuous: bool = False
    roll: RollPolicy = field(default_factory=RollPolicy)
    snapshot_interval_s: float = 300.0
    idle_timeout_s: float = 60.0
    scale_out: bool = False
    session_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.scale_out and not self.continuous:
            raise InputError(
                "--scale-out needs --continuous",
                hint="Scaled-out processes share partitions while they run; a one-shot run "
                "backs up every partition itself.",
            )


@dataclass
class BackupSummary:
    """What one run did."""

    site: str
    stores: list[str]
    prefix: str
    topics: list[str]
    started_at: datetime
    finished_at: datetime | None = None
    partitions: int = 0
    records: int = 0
    files: int = 0
    bytes: int = 0
    copied: dict[str, int] = field(default_factory=dict)
    removed_uncommitted: list[str] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready mapping."""
        took = (self.finished_at - self.started_at).total_seconds() if self.finished_at else None
        return {
            "site": self.site,
            "stores": self.stores,
            "prefix": self.prefix,
            "topics": self.topics,
            "partitions": self.partitions,
            "records": self.records,
            "files": self.files,
            "bytes": self.bytes,
            "seconds": round(took, 3) if took is not None else None,
            "copied_to_other_targets": self.copied,
            "removed_uncommitted_files": self.removed_uncommitted,
            "gaps_recorded": self.gaps,
            "snapshots": self.snapshots,
            "warnings": self.warnings,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def select_topics(names: list[str], regex: str | None) -> list[str]:
    """Return the topics to back up: those matching ``regex`` (whole name), else non-internal.

    Kafka's own topics (``__*``) and MirrorMaker/Connect internals (``*.internal``) are never
    chosen by default. Raises InputError for a bad regex or one matching nothing.
    """
    candidates = sorted(n for n in names if not n.startswith("__") and not n.endswith(".internal"))
    if regex is None:
        return candidates
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise InputError(f"--topics {regex!r} is not a regular expression: {exc}") from exc
    chosen = [n for n in candidates if pattern.fullmatch(n)]
    if not chosen:
        raise InputError(
            f"no topic matches --topics {regex!r}",
            hint="The regex must match the whole topic name; `kafka-topics --list` shows them.",
        )
    return chosen


class BackupService:
    """Runs backups of one site into one or more stores (the first is the primary)."""

    def __init__(
        self,
        settings: Settings,
        db: MetadataStore,
        stores: list[BackupStore],
        options: BackupOptions,
        *,
        stop: threading.Event | None = None,
        on_tick: Callable[[WriterStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.stores = stores
        self.options = options
        self.stop = stop or threading.Event()
        self.on_tick = on_tick
        _, self.site = settings.site(options.site)
        self.admin = KafkaAdmin(options.site, self.site)
        self.leases = PartitionLeases(db, self.primary.name, self.primary.prefix)

    @property
    def primary(self) -> BackupStore:
        """Return the store the run reads its progress from."""
        return self.stores[0]

    def run(self) -> BackupSummary:
        """Run one backup; raises StateError when another run holds the lease.

        A scaled-out run does not take the backup's lease (its siblings share the backup) but
        only the leases of the partitions the group assigns it; any run holds those.
        """
        lease = Lease(self.db, f"{self.primary.name}:{self.primary.prefix}")
        if not self.options.scale_out:
            lease.acquire()
        run_id = start_run(self.db, self.options.site, self.primary.name, self.primary.prefix)
        summary = BackupSummary(
            self.options.site, [s.name for s in self.stores], self.primary.prefix, [], utcnow()
        )
        renewing = threading.Event()
        self.leases.keep_alive(renewing)
        try:
            if self.options.scale_out:
                self._run_scaled(summary)
            else:
                self._run(summary, lease)
        except BaseException as exc:
            summary.finished_at = utcnow()
            finish_run(self.db, run_id, "failed", {**summary.as_dict(), "error": str(exc)})
            raise
        finally:
            renewing.set()
            self.leases.release_all()
            lease.release()
        summary.finished_at = utcnow()
        finish_run(self.db, run_id, "ok", summary.as_dict())
        return summary

    def _run(self, summary: BackupSummary, lease: Lease) -> None:
        md = self.admin.metadata()
        summary.topics = select_topics(list(md.topics), self.options.topics_regex)
        # Every partition's lease before any clean-up: scaled-out runs may be writing them.
        self.leases.claim_all(
            TopicPartition(t, p.partition) for t in summary.topics for p in md.topics[t].partitions
        )
        summary.copied = sync_copies(self.primary, self.stores[1:])
        entries = [e for t in summary.topics for e in self.primary.manifests(t)]
        summary.removed_uncommitted = remove_uncommitted(self.stores, entries, summary.topics)
        summary.snapshots += self._snapshot(summary.topics)
        starts, gap_entries = self._starts(summary.topics, entries)
        for gap in gap_entries:
            for store in self.stores:
                store.put_entry(gap)
            summary.gaps += [{"partition": str(gap.tp), **g.as_dict()} for g in gap.gaps]
        summary.partitions = len(starts)
        writer = PartitionWriter(
            self.site,
            self.stores,
            self.options.roll,
            stop=self.stop,
            on_tick=self._ticker(summary, lease),
            idle_timeout_s=self.options.idle_timeout_s,
            fence=self.leases.check,
        )
        stats = writer.run(starts, self.options.continuous, self.group_id)
        self._finish(summary, stats)

    @property
    def group_id(self) -> str:
        """Return the consumer group of this backup's writers."""
        return f"streamdr-backup.{self.primary.prefix}"

    def _run_scaled(self, summary: BackupSummary) -> None:
        md = self.admin.metadata()
        summary.topics = select_topics(list(md.topics), self.options.topics_regex)
        summary.copied = sync_copies(self.primary, self.stores[1:])
        summary.snapshots += self._snapshot(summary.topics)
        claims = PartitionClaims(self.stores, self.admin, self.leases)
        writer = GroupPartitionWriter(
            self.site,
            self.stores,
            self.options.roll,
            claims,
            stop=self.stop,
            on_tick=self._ticker(summary, None),
            session_timeout_ms=int(self.options.session_timeout_s * 1000),
        )
        try:
            stats = writer.run_group(summary.topics, self.group_id)
        finally:
            summary.partitions = len(claims.log.claimed)
            summary.removed_uncommitted += claims.log.removed_uncommitted
            summary.gaps += [
                {"partition": str(gap.tp), **g.as_dict()}
                for gap in claims.log.gaps
                for g in gap.gaps
            ]
        self._finish(summary, stats)

    def _finish(self, summary: BackupSummary, stats: WriterStats) -> None:
        summary.records, summary.files, summary.bytes = (
            stats.records_written,
            stats.files,
            stats.bytes,
        )
        summary.gaps += stats.gaps
        summary.warnings += stats.warnings
        summary.snapshots += self._snapshot(summary.topics)

    def _starts(
        self, topics: list[str], entries: list[ManifestEntry]
    ) -> tuple[list[StartPosition], list[ManifestEntry]]:
        log_starts: dict[TopicPartition, int] = {}
        log_ends: dict[TopicPartition, int] = {}
        for topic in topics:
            for p, off in self.admin.start_offsets(topic).items():
                log_starts[TopicPartition(topic, p)] = off
            for p, off in self.admin.end_offsets(topic).items():
                log_ends[TopicPartition(topic, p)] = off
        return plan_starts(catalog.progress(entries), log_starts, log_ends, self.options.continuous)

    def _snapshot(self, topics: list[str]) -> list[str]:
        at = utcnow()
        snaps = [
            take_topics_snapshot(self.admin, topics, at),
            take_groups_snapshot(GroupAdmin(self.admin), at),
        ]
        keys = []
        for snap in snaps:
            keys.append(self.primary.put_snapshot(snap))
            for copy in self.stores[1:]:
                copy.put_snapshot(snap)
        return keys

    def _ticker(self, summary: BackupSummary, lease: Lease | None) -> Callable[[WriterStats], None]:
        last = {"snapshot": time.monotonic(), "lease": time.monotonic()}

        def tick(stats: WriterStats) -> None:
            now = time.monotonic()
            if now - last["lease"] >= 10:
                if lease is not None:
                    lease.renew()
                last["lease"] = now
            if (
                self.options.continuous
                and now - last["snapshot"] >= self.options.snapshot_interval_s
            ):
                summary.snapshots += self._snapshot(summary.topics)
                last["snapshot"] = now
            if self.on_tick:
                self.on_tick(stats)

        return tick
