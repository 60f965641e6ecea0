"""Consumer-group offsets after a restore: snapshot offsets translated through the offset map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamdr.backup.model import GroupsSnapshot, TopicPartition
from streamdr.backup.store import BackupStore
from streamdr.errors import InputError
from streamdr.restore.groups import GroupAdmin
from streamdr.restore.offsetmap import OffsetRun, translate_offset


@dataclass(frozen=True)
class GroupOffsetChange:
    """One group's new offset on one restored partition, and the original it stands for."""

    group: str
    topic: str
    partition: int
    original: int
    restored: int

    def as_dict(self) -> dict[str, Any]:
        """Return the change as a JSON-ready mapping."""
        return {
            "group": self.group,
            "topic": self.topic,
            "partition": self.partition,
            "original_offset": self.original,
            "restored_offset": self.restored,
        }


def groups_to_restore(
    snapshot: GroupsSnapshot | None, topic: str, groups: tuple[str, ...], all_groups: bool
) -> list[str]:
    """Return the groups whose offsets on ``topic`` will be restored (validated, pure).

    Raises InputError when there is no snapshot or a named group has no offsets on the topic.
    """
    if not groups and not all_groups:
        return []
    if snapshot is None:
        raise InputError(
            "the backup has no consumer-group snapshot to restore offsets from",
            hint="`backup run` and `offsets snapshot` take one; restore without --restore-offsets.",
        )
    having = sorted(g for g, o in snapshot.groups.items() if o.for_topic(topic))
    if all_groups:
        return having
    missing = [g for g in groups if g not in having]
    if missing:
        raise InputError(
            f"groups {missing} have no committed offsets on {topic!r} in snapshot "
            f"{snapshot.snapshot_id}",
            hint=f"Groups with offsets on it: {', '.join(having) or 'none'}.",
        )
    return list(dict.fromkeys(groups))


def find_groups_snapshot(
    store: BackupStore,
    topic: str,
    groups: tuple[str, ...],
    all_groups: bool,
    snapshot_id: str | None = None,
) -> GroupsSnapshot | None:
    """Return the snapshot to take offsets from: the given one, else the newest that has them.

    A snapshot taken after the topic was deleted no longer holds its offsets (Kafka drops them
    with the topic), so the newest snapshot in which the groups have offsets on it is chosen.
    """
    if snapshot_id is not None:
        return store.groups_snapshot(snapshot_id)
    for sid in reversed(store.snapshot_ids("groups")):
        snap = store.groups_snapshot(sid)
        having = {g for g, o in snap.groups.items() if o.for_topic(topic)} if snap else set()
        if (all_groups and having) or (groups and set(groups) <= having):
            return snap
    return store.groups_snapshot()


def plan_group_offsets(
    snapshot: GroupsSnapshot,
    groups: list[str],
    source_topic: str,
    target_topic: str,
    maps: dict[int, tuple[list[OffsetRun], int]],
) -> list[GroupOffsetChange]:
    """Return each group's restored offsets: committed offsets mapped per restored partition."""
    changes = []
    for group in groups:
        for partition, committed in sorted(snapshot.groups[group].for_topic(source_topic).items()):
            if partition not in maps:
                continue
            runs, end = maps[partition]
            changes.append(
                GroupOffsetChange(
                    group,
                    target_topic,
                    partition,
                    committed,
                    translate_offset(runs, committed, end),
                )
            )
    return changes


def apply_group_offsets(admin: GroupAdmin, changes: list[GroupOffsetChange]) -> None:
    """Commit the changes group by group; raises StateError when a group is active."""
    by_group: dict[str, dict[TopicPartition, int]] = {}
    for c in changes:
        by_group.setdefault(c.group, {})[TopicPartition(c.topic, c.partition)] = c.restored
    for group in by_group:
        admin.require_inactive(group)
    for group, offsets in by_group.items():
        admin.alter(group, offsets)
