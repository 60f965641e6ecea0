"""Translating a consumer group's positions from one site to another, on live sites.

``checkpoints``: read ``<source><sep>checkpoints<sep>internal`` on the target (the source may be
down); ``offset-syncs``: read the group's committed offsets on the source and MM2's offset syncs
(forward for the source's own topics, reverse for the target's copies on the source); ``auto``
uses offset syncs when the source answers, else checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from streamdr.errors import InputError, StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.replication.mm2.internal_topics import (
    describe_group,
    read_checkpoints,
    read_offset_syncs,
)
from streamdr.replication.mm2.offset_translation import (
    Translation,
    from_checkpoints,
    from_offset_syncs,
    from_reverse_syncs,
    last_checkpoints,
    sync_history,
)
from streamdr.replication.topology import Topology
from streamdr.settings.model import Settings

Method = Literal["auto", "checkpoints", "offset-syncs"]


@dataclass
class GroupTranslation:
    """Every translated partition of one group, and where the figures came from."""

    group: str
    source: str
    target: str
    method: str
    translations: list[Translation]
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offsets(self) -> dict[tuple[str, int], int]:
        """Return the translated offsets that can be committed (untranslatable ones left out)."""
        return {(t.topic, t.partition): t.offset for t in self.translations if t.offset is not None}

    @property
    def untranslated(self) -> list[Translation]:
        """Return the partitions that could not be translated."""
        return [t for t in self.translations if t.offset is None]

    def as_dict(self) -> dict[str, Any]:
        """Return the translation as JSON-ready data."""
        return {
            "group": self.group,
            "from": self.source,
            "to": self.target,
            "method": self.method,
            "partitions": [t.as_dict() for t in self.translations],
            "sources": self.sources,
        }


def group_topics(topology: Topology, group: str) -> tuple[str, ...]:
    """Return the original topics of ``group``; raises InputError for an unknown group."""
    owner = topology.set_of_group(group)
    if owner is None:
        known = sorted({g for s in topology.sets for g in s.groups})
        raise InputError(
            f"group {group!r} is not replicated",
            hint=f"Replicated groups: {', '.join(known) or 'none (start replication first)'}.",
        )
    return owner.topics


def translate_group(
    settings: Settings,
    topology: Topology,
    group: str,
    source: str,
    target: str,
    method: Method = "auto",
) -> GroupTranslation:
    """Return ``group``'s positions on ``target`` translated from ``source``.

    Raises InputError for unknown sites or groups, UnreachableError when a needed site is down.
    """
    for name in (source, target):
        settings.site(name)
    if source == target:
        raise InputError("--from and --to name the same site", hint="Name two different sites.")
    topics = group_topics(topology, group)
    if method == "auto":
        method = "offset-syncs" if _answers(settings, source) else "checkpoints"
    if method == "checkpoints":
        return _by_checkpoints(settings, topology, group, source, target, topics)
    return _by_offset_syncs(settings, topology, group, source, target, topics)


def _answers(settings: Settings, site: str) -> bool:
    try:
        KafkaAdmin(site, settings.sites[site], timeout=3.0).metadata(timeout=3.0)
    except StreamdrError:
        return False
    return True


def _by_checkpoints(
    settings: Settings,
    topology: Topology,
    group: str,
    source: str,
    target: str,
    topics: tuple[str, ...],
) -> GroupTranslation:
    names = topology.names
    cp_topic = names.checkpoints_topic(source)
    parsed = read_checkpoints(target, settings.sites[target], cp_topic)
    remote = {names.remote_topic(source, t): t for t in topics}
    last = {k: v for k, v in last_checkpoints(parsed.records, group).items() if k[0] in remote}
    sources = [
        {
            "site": target,
            "topic": cp_topic,
            "records": len(parsed.records),
            "skipped": parsed.skipped,
            "rule": "last checkpoint per partition wins (as RemoteClusterUtils)",
        }
    ]
    return GroupTranslation(
        group, source, target, "checkpoints", from_checkpoints(last, remote), sources
    )


def _by_offset_syncs(
    settings: Settings,
    topology: Topology,
    group: str,
    source: str,
    target: str,
    topics: tuple[str, ...],
) -> GroupTranslation:
    names = topology.names
    src_admin = KafkaAdmin(source, settings.sites[source])
    committed = describe_group(src_admin, group).offsets
    forward = {tp: o for tp, o in committed.items() if tp[0] in topics}
    copies = {names.remote_topic(target, t): t for t in topics}
    backward = {tp: o for tp, o in committed.items() if tp[0] in copies}
    fwd_topic = names.offset_syncs_topic(target)
    rev_topic = names.offset_syncs_topic(source)
    fwd = read_offset_syncs(source, settings.sites[source], fwd_topic)
    out = from_offset_syncs(
        forward, sync_history(fwd.records), {t: names.remote_topic(source, t) for t in topics}
    )
    sources = [_sync_source(source, fwd_topic, fwd.records, fwd.skipped, "forward")]
    if backward:
        rev = read_offset_syncs(target, settings.sites[target], rev_topic)
        out += from_reverse_syncs(backward, sync_history(rev.records), copies)
        sources.append(_sync_source(target, rev_topic, rev.records, rev.skipped, "reverse"))
    sources.insert(0, {"site": source, "group_offsets": len(committed)})
    return GroupTranslation(group, source, target, "offset-syncs", out, sources)


def _sync_source(site: str, topic: str, records: list[Any], skipped: int, way: str) -> dict:
    rule = (
        "newest sync at or before the offset: downstream + (0 if equal else 1)"
        if way == "forward"
        else "newest sync at or before the position: upstream + (0 if equal else 1)"
    )
    return {"site": site, "topic": topic, "records": len(records), "skipped": skipped, "rule": rule}
