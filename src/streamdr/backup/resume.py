"""Where each partition's backup resumes, and the clean-up a new writer of a partition does.

A partition is resumed at the end of its catalog (commit after durable). Before writing, its
new writer — a run starting, or a scaled-out process the group just gave the partition to —
deletes the data files a dead writer left without a catalog entry, and records as a retention
gap the offsets Kafka deleted meanwhile. Both are done only under the partition's lease.
"""

from __future__ import annotations

from collections.abc import Iterable

from streamdr.backup import catalog
from streamdr.backup.model import GAP_RETENTION, Gap, ManifestEntry, TopicPartition
from streamdr.backup.store import BackupStore
from streamdr.backup.writer import StartPosition
from streamdr.errors import StateError


def plan_starts(
    progress: dict[TopicPartition, int],
    log_starts: dict[TopicPartition, int],
    log_ends: dict[TopicPartition, int],
    continuous: bool,
) -> tuple[list[StartPosition], list[ManifestEntry]]:
    """Return where each partition resumes and the retention gaps to record first (pure).

    A partition resumes at its catalog progress; offsets Kafka deleted meanwhile become a gap
    entry. Raises StateError when the catalog is ahead of the log (topic recreated).
    """
    starts, gaps = [], []
    for tp, log_start in sorted(log_starts.items()):
        end = log_ends[tp]
        resume = progress.get(tp, log_start)
        if resume > end:
            raise StateError(
                f"the backup of {tp} ends at offset {resume} but the topic's log ends at {end}: "
                "the topic was deleted and recreated",
                hint="Back the new topic up under a new --prefix; keep the old backup as is.",
            )
        if resume < log_start:
            gap = Gap(resume, log_start, GAP_RETENTION)
            gaps.append(ManifestEntry(tp.topic, tp.partition, resume, log_start, 0, gaps=(gap,)))
            resume = log_start
        starts.append(StartPosition(tp, resume, None if continuous else end))
    return starts, gaps


def remove_uncommitted(
    stores: list[BackupStore],
    entries: list[ManifestEntry],
    topics: Iterable[str],
    only: set[TopicPartition] | None = None,
) -> list[str]:
    """Delete data files a crashed writer left beyond its partition's catalog progress.

    ``only`` limits the clean-up to the partitions this process holds the lease of; return
    the deleted objects as ``store:key``. Raises UnreachableError when a store fails.
    """
    progress = catalog.progress(entries)
    known = {e.key for e in entries}
    removed = []
    for store in stores:
        for topic in topics:
            for seg, obj in store.data_objects(topic):
                tp = TopicPartition(seg.topic, seg.partition)
                if only is not None and tp not in only:
                    continue
                if obj.key not in known and seg.first_offset >= progress.get(tp, 0):
                    store.delete_object(obj.key)
                    removed.append(f"{store.name}:{obj.key}")
    return removed
