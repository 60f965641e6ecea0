"""Offset translation between sites, as pure functions over MM2's records.

Two sources of truth, both written by MM2:

- **Checkpoints** (on the target): a group's upstream offset and its translation. Like Kafka's
  ``RemoteClusterUtils.translateOffsets``, the whole topic is read and the **last** checkpoint per
  (group, topic, partition) wins. This needs nothing from the source site, so it is what an
  unplanned failover uses.
- **Offset syncs** (on the source): upstream ↔ downstream pairs. A group offset ``g`` translates
  to ``sync.downstream + (0 if g == sync.upstream else 1)`` using the newest sync at or before
  ``g`` — exact at a sync point, otherwise one past it (records after a sync may or may not have
  been replicated, so claiming more could skip one). A planned switch uses this with the group's
  final committed offset, and the reverse rule maps progress made on a remote copy back to the
  original topic for failback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamdr.replication.mm2.records import Checkpoint, OffsetSync

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class Translation:
    """One partition's translated position and how it was obtained."""

    topic: str  # topic on the target site
    partition: int
    offset: int | None  # None: cannot be translated (start from the earliest offset)
    source_topic: str
    source_offset: int | None
    method: str  # checkpoint | offset-sync | offset-sync-reverse | none
    basis: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the translation as JSON-ready data."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "source_topic": self.source_topic,
            "source_offset": self.source_offset,
            "method": self.method,
            "basis": self.basis,
        }


def last_checkpoints(records: Iterable[Checkpoint], group: str) -> dict[TopicPartition, Checkpoint]:
    """Return the last checkpoint per (topic, partition) of ``group``, in topic order."""
    out: dict[TopicPartition, Checkpoint] = {}
    for cp in records:
        if cp.group == group:
            out[(cp.topic, cp.partition)] = cp
    return out


def from_checkpoints(
    checkpoints: dict[TopicPartition, Checkpoint], source_topic_of: dict[str, str]
) -> list[Translation]:
    """Return translations straight from checkpoints (``source_topic_of``: remote → upstream)."""
    return [
        Translation(
            topic,
            part,
            cp.downstream_offset,
            source_topic_of.get(topic, topic),
            cp.upstream_offset,
            "checkpoint",
            {"upstream": cp.upstream_offset, "downstream": cp.downstream_offset},
        )
        for (topic, part), cp in sorted(checkpoints.items())
    ]


def sync_history(records: Iterable[OffsetSync]) -> dict[TopicPartition, list[OffsetSync]]:
    """Return the usable syncs per upstream partition, oldest first.

    A sync whose upstream offset is not above the previous one (MM2 restarted and re-read the
    source) invalidates the syncs it contradicts, as MM2's own OffsetSyncStore does.
    """
    out: dict[TopicPartition, list[OffsetSync]] = {}
    for sync in records:
        history = out.setdefault((sync.topic, sync.partition), [])
        while history and (
            history[-1].upstream_offset >= sync.upstream_offset
            or history[-1].downstream_offset >= sync.downstream_offset
        ):
            history.pop()
        history.append(sync)
    return out


def translate_downstream(syncs: Sequence[OffsetSync], upstream_offset: int) -> int | None:
    """Return the target offset for a group at ``upstream_offset`` on the source, or None.

    None when no sync is at or before the offset (the group is older than every known sync).
    """
    best = None
    for sync in syncs:
        if sync.upstream_offset <= upstream_offset:
            best = sync
    if best is None:
        return None
    return best.downstream_offset + (0 if upstream_offset == best.upstream_offset else 1)


def translate_upstream(syncs: Sequence[OffsetSync], downstream_offset: int) -> int | None:
    """Return the source offset for a group at ``downstream_offset`` on a remote copy, or None.

    The mirror of :func:`translate_downstream`: the newest sync at or before the position;
    exact on it, otherwise one past the sync's upstream offset (never beyond what was read).
    """
    best = None
    for sync in syncs:
        if sync.downstream_offset <= downstream_offset:
            best = sync
    if best is None:
        return None
    return best.upstream_offset + (0 if downstream_offset == best.downstream_offset else 1)


def from_offset_syncs(
    group_offsets: dict[TopicPartition, int],
    history: dict[TopicPartition, list[OffsetSync]],
    remote_name: dict[str, str],
) -> list[Translation]:
    """Return forward translations of committed ``group_offsets`` (source topic → remote topic)."""
    out = []
    for (topic, part), offset in sorted(group_offsets.items()):
        syncs = history.get((topic, part), [])
        translated = translate_downstream(syncs, offset)
        out.append(
            Translation(
                remote_name[topic],
                part,
                translated,
                topic,
                offset,
                "offset-sync" if translated is not None else "none",
                _basis(syncs, lambda s, o=offset: s.upstream_offset <= o),
            )
        )
    return out


def from_reverse_syncs(
    group_offsets: dict[TopicPartition, int],
    history: dict[TopicPartition, list[OffsetSync]],
    original_name: dict[str, str],
) -> list[Translation]:
    """Return translations of progress on remote copies back to their original topics.

    ``group_offsets`` are positions on remote topics (e.g. ``primary_orders`` on dr);
    ``history`` holds the syncs of the flow that filled them, keyed by the original topic.
    """
    out = []
    for (remote, part), offset in sorted(group_offsets.items()):
        original = original_name[remote]
        syncs = history.get((original, part), [])
        translated = translate_upstream(syncs, offset)
        out.append(
            Translation(
                original,
                part,
                translated,
                remote,
                offset,
                "offset-sync-reverse" if translated is not None else "none",
                _basis(syncs, lambda s, o=offset: s.downstream_offset <= o),
            )
        )
    return out


def _basis(syncs: Sequence[OffsetSync], usable: Any) -> dict[str, Any]:
    chosen = [s for s in syncs if usable(s)]
    if not chosen:
        return {"syncs_known": len(syncs)}
    s = chosen[-1]
    return {"sync_upstream": s.upstream_offset, "sync_downstream": s.downstream_offset}
