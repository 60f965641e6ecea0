"""Consumer-group offset tools: rewind to a datetime, snapshot, restore a snapshot.

Each is a pure plan of :class:`OffsetChange` rows, printed first, then applied only to an
inactive group (Kafka ignores and later overwrites offsets committed under a live group).
A rewind never moves a partition *forward* unless asked (:func:`select_rewind`): a partition
whose worker lagged behind the rewind time would otherwise skip records nobody processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamdr.backup.model import GroupsSnapshot, TopicPartition
from streamdr.clock import datetime_to_ms
from streamdr.errors import InputError
from streamdr.restore.groups import GroupAdmin


@dataclass(frozen=True)
class OffsetChange:
    """A group's committed offset on one partition: now, and after the change."""

    group: str
    topic: str
    partition: int
    current: int | None
    new: int
    held_from: int | None = None
    """The offset a rewind wanted when it kept ``current`` instead (it would move forward)."""

    @property
    def skipped(self) -> int | None:
        """Return how many offsets the change skips (moves forward over); None without current."""
        return None if self.current is None else max(0, self.new - self.current)

    @property
    def reread(self) -> int | None:
        """Return how many offsets the change reads again; None without a current offset."""
        return None if self.current is None else max(0, self.current - self.new)

    def as_dict(self) -> dict[str, Any]:
        """Return the change as a JSON-ready mapping."""
        return {
            "group": self.group,
            "topic": self.topic,
            "partition": self.partition,
            "current_offset": self.current,
            "new_offset": self.new,
            "moves_by": None if self.current is None else self.new - self.current,
            "skipped_offsets": self.skipped,
            "reread_offsets": self.reread,
            "held_from": self.held_from,
        }


def plan_changes(
    group: str, committed: dict[TopicPartition, int], targets: dict[TopicPartition, int]
) -> list[OffsetChange]:
    """Return one change per target partition, with the current committed offset (pure)."""
    return [
        OffsetChange(group, tp.topic, tp.partition, committed.get(tp), new)
        for tp, new in sorted(targets.items())
    ]


def apply_changes(admin: GroupAdmin, changes: list[OffsetChange]) -> None:
    """Commit the new offsets of every group in ``changes`` (each must be inactive)."""
    by_group: dict[str, dict[TopicPartition, int]] = {}
    for c in changes:
        by_group.setdefault(c.group, {})[TopicPartition(c.topic, c.partition)] = c.new
    for group in by_group:
        admin.require_inactive(group)
    for group, offsets in by_group.items():
        admin.alter(group, offsets)


def never_forward(change: OffsetChange) -> OffsetChange:
    """Return ``change`` clamped so a rewind never moves a partition *forward*.

    A partition whose committed offset is already before the rewind time (its worker lagged)
    keeps it, with the wanted offset in ``held_from``: moving it would skip unprocessed records.
    """
    if change.current is not None and change.current < change.new:
        return OffsetChange(
            change.group,
            change.topic,
            change.partition,
            change.current,
            change.current,
            held_from=change.new,
        )
    return change


def select_rewind(
    changes: list[OffsetChange],
    *,
    partitions: tuple[int, ...] | None = None,
    allow_forward: bool = False,
) -> list[OffsetChange]:
    """Return the rewind ``changes`` limited to ``partitions`` and never moving forward (pure).

    ``allow_forward`` keeps forward moves (records between the current and the new offset are
    then never processed). Raises InputError when ``partitions`` names a partition not planned.
    """
    if partitions is not None:
        planned = {c.partition for c in changes}
        unknown = sorted(set(partitions) - planned)
        if unknown:
            raise InputError(
                f"--partitions {','.join(map(str, unknown))} not in the rewound topic "
                f"(it has {','.join(map(str, sorted(planned))) or 'none'})",
                hint="List the topic's partitions with `streamdr offsets rewind` without "
                "--partitions.",
            )
        changes = [c for c in changes if c.partition in partitions]
    return changes if allow_forward else [never_forward(c) for c in changes]


def parse_partitions(value: str | None) -> tuple[int, ...] | None:
    """Return the sorted partition numbers of ``"0,3"``, None for None; raise InputError if bad."""
    if value is None:
        return None
    try:
        parts = tuple(sorted({int(p) for p in value.split(",") if p.strip()}))
    except ValueError as exc:
        raise InputError(
            f"--partitions {value!r} must be numbers like 0,3", hint="E.g. --partitions 0,3"
        ) from exc
    if not parts or min(parts) < 0:
        raise InputError(
            f"--partitions {value!r} must list partition numbers >= 0", hint="E.g. --partitions 0,3"
        )
    return parts


def plan_rewind(
    admin: GroupAdmin,
    group: str,
    topic: str | None,
    when: datetime,
    *,
    partitions: tuple[int, ...] | None = None,
    allow_forward: bool = False,
) -> list[OffsetChange]:
    """Return the changes that move ``group`` back to the first record at or after ``when``.

    Covers every partition of ``topic`` (or of each topic the group has offsets on), narrowed
    by :func:`select_rewind`; a partition with no record that late goes to its end. Raises
    StateError for an active group and InputError when there is nothing to rewind.
    """
    if partitions is not None and topic is None:
        raise InputError(
            "--partitions needs --topic", hint="Partition numbers are per topic: add --topic T."
        )
    admin.require_inactive(group)
    committed = admin.committed(group)
    topics = [topic] if topic else sorted({tp.topic for tp in committed})
    if not topics:
        raise InputError(
            f"consumer group {group!r} has no committed offsets",
            hint="Name the topic with --topic to set the group's first offsets.",
        )
    targets: dict[TopicPartition, int] = {}
    for t in topics:
        for p, offset in admin.offsets_for_time(t, datetime_to_ms(when)).items():
            targets[TopicPartition(t, p)] = offset
    changes = plan_changes(group, committed, targets)
    return select_rewind(changes, partitions=partitions, allow_forward=allow_forward)


def plan_snapshot_restore(
    admin: GroupAdmin, snapshot: GroupsSnapshot, group: str | None
) -> tuple[list[OffsetChange], list[str]]:
    """Return the changes that put groups back to ``snapshot`` and warnings about them.

    Partitions of topics that no longer exist are skipped with a warning; offsets outside a
    partition's current log are kept but warned about. Raises InputError for an unknown group.
    """
    if group is not None and group not in snapshot.groups:
        raise InputError(
            f"consumer group {group!r} is not in snapshot {snapshot.snapshot_id}",
            hint=f"Groups in it: {', '.join(sorted(snapshot.groups)) or 'none'}.",
        )
    names = [group] if group else sorted(snapshot.groups)
    changes, warnings = [], []
    bounds: dict[str, tuple[dict[int, int], dict[int, int]] | None] = {}
    for name in names:
        admin.require_inactive(name)
        wanted = snapshot.groups[name].offsets
        for topic in sorted({tp.topic for tp in wanted}):
            if topic not in bounds:
                exists = admin.admin.topic(topic) is not None
                bounds[topic] = (
                    (admin.admin.start_offsets(topic), admin.admin.end_offsets(topic))
                    if exists
                    else None
                )
        present = {tp: o for tp, o in wanted.items() if bounds[tp.topic] is not None}
        warnings += [
            f"{name}: topic {t} no longer exists; skipped"
            for t in sorted({tp.topic for tp in wanted if bounds[tp.topic] is None})
        ]
        for tp, offset in sorted(present.items()):
            starts, ends = bounds[tp.topic] or ({}, {})
            if not starts.get(tp.partition, 0) <= offset <= ends.get(tp.partition, offset):
                warnings.append(
                    f"{name}: {tp} offset {offset} is outside the current log "
                    f"{starts.get(tp.partition)}..{ends.get(tp.partition)}"
                )
        changes += plan_changes(name, admin.committed(name), present)
    return changes, warnings
