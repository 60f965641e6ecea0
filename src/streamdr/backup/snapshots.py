"""Snapshots, with timestamps, of consumer-group offsets and of topic configuration."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from confluent_kafka.admin import ConfigResource, ConfigSource

from streamdr.backup.layout import format_snapshot_id
from streamdr.backup.model import GroupOffsets, GroupsSnapshot, TopicInfo, TopicsSnapshot
from streamdr.clock import utcnow
from streamdr.errors import StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.restore.groups import GroupAdmin, wait_for

# Only settings made for the topic itself are restored; defaults follow the target cluster.
_OWN_SOURCES = frozenset({ConfigSource.DYNAMIC_TOPIC_CONFIG.value})


def topic_infos(admin: KafkaAdmin, names: Iterable[str]) -> dict[str, TopicInfo]:
    """Return partition count, replication factor and own (non-default) config of each topic."""
    md = admin.metadata()
    names = [n for n in names if n in md.topics]
    if not names:
        return {}
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    futures = admin.client.describe_configs(resources, request_timeout=admin.timeout)
    out: dict[str, TopicInfo] = {}
    for res, fut in futures.items():
        entries = wait_for(admin, fut, f"describing config of {res.name}")
        config = {
            k: e.value
            for k, e in entries.items()
            if e.value is not None
            and getattr(e.source, "value", e.source) in _OWN_SOURCES
            and not e.is_sensitive
        }
        state = md.topics[res.name]
        out[res.name] = TopicInfo(
            res.name, len(state.partitions), state.replication_factor, dict(sorted(config.items()))
        )
    return dict(sorted(out.items()))


def take_topics_snapshot(
    admin: KafkaAdmin, topics: Iterable[str], taken_at: datetime | None = None
) -> TopicsSnapshot:
    """Return a snapshot of ``topics``' partition counts and configuration."""
    at = taken_at or utcnow()
    return TopicsSnapshot(format_snapshot_id(at), admin.site_name, at, topic_infos(admin, topics))


def take_groups_snapshot(groups: GroupAdmin, taken_at: datetime | None = None) -> GroupsSnapshot:
    """Return a snapshot of every consumer group's committed offsets and state.

    A group that disappears between listing and reading is skipped (it has nothing to restore).
    """
    at = taken_at or utcnow()
    found: dict[str, GroupOffsets] = {}
    for group in groups.groups():
        try:
            state, _members = groups.state(group)
            offsets = groups.committed(group)
        except StreamdrError:
            if group in groups.groups():
                raise
            continue
        if offsets:
            found[group] = GroupOffsets(group, state, offsets)
    return GroupsSnapshot(format_snapshot_id(at), groups.admin.site_name, at, found)
