"""Measuring replication lag on live sites (the I/O around :mod:`.arithmetic`)."""

from __future__ import annotations

import time
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from streamdr.clock import now_ms
from streamdr.errors import StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import make_consumer
from streamdr.replication.lag.arithmetic import (
    LagStatus,
    LagSummary,
    PartitionLag,
    Thresholds,
    heartbeat_age,
    partition_lag,
    replicated_position,
    summarize,
    worst,
)
from streamdr.replication.mm2.internal_topics import read_heartbeats, read_offset_syncs
from streamdr.replication.mm2.offset_translation import sync_history
from streamdr.replication.mm2.records import OffsetSync
from streamdr.replication.topology import Flow, Topology
from streamdr.settings.model import Settings, SiteSettings

HEARTBEAT_TAIL = 20
PROBE_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class FlowLag:
    """One flow's partitions, heartbeat age and the error that kept it from being measured."""

    flow: str
    heartbeat_age_seconds: float | None
    partitions: list[PartitionLag]
    error: str | None = None

    @property
    def status(self) -> LagStatus:
        """Return the worst partition status (UNKNOWN when the flow could not be measured)."""
        if self.error:
            return LagStatus.UNKNOWN
        return worst(p.status for p in self.partitions)

    def as_dict(self) -> dict[str, Any]:
        """Return the flow's figures as JSON-ready data (partitions listed separately)."""
        return {
            "flow": self.flow,
            "heartbeat_age_seconds": self.heartbeat_age_seconds,
            "partitions": len(self.partitions),
            "status": str(self.status),
            "error": self.error,
        }


@dataclass
class LagReport:
    """Lag of every flow at one moment, with the worst figure per workflow and tier."""

    sampled_at: float
    flows: list[FlowLag]
    thresholds: Thresholds
    by_set: list[LagSummary] = field(default_factory=list)
    by_tier: list[LagSummary] = field(default_factory=list)

    @property
    def partitions(self) -> list[PartitionLag]:
        """Return every measured partition."""
        return [p for f in self.flows for p in f.partitions]

    @property
    def status(self) -> LagStatus:
        """Return the worst status over every flow."""
        return worst(f.status for f in self.flows)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as one JSON-ready mapping."""
        return {
            "sampled_at": self.sampled_at,
            "status": str(self.status),
            "thresholds": {
                "warning_seconds": self.thresholds.warning_seconds,
                "critical_seconds": self.thresholds.critical_seconds,
            },
            "flows": [f.as_dict() for f in self.flows],
            "workflows": [s.as_dict() for s in self.by_set],
            "tiers": [s.as_dict() for s in self.by_tier],
            "partitions": [p.as_dict() for p in self.partitions],
        }


def thresholds_of(settings: Settings) -> Thresholds:
    """Return the lag thresholds configured in ``settings``."""
    rep = settings.replication
    return Thresholds(rep.lag_warning_seconds, rep.lag_critical_seconds)


def measure_lag(settings: Settings, topology: Topology, *, now: float | None = None) -> LagReport:
    """Return the lag of every flow of ``topology``; a site that does not answer marks its flows."""
    thresholds = thresholds_of(settings)
    flows = [_measure_flow(settings, topology, f, thresholds) for f in topology.flows]
    report = LagReport(now or time.time(), flows, thresholds)
    report.by_set = [
        summarize(s.name, [p for f in flows for p in f.partitions if p.topic in s.topics])
        for s in topology.sets
        if any(s.name in f.sets for f in topology.flows)
    ]
    tiers = sorted(
        {str(s.tier) for s in topology.sets if any(s.name in f.sets for f in topology.flows)}
    )
    report.by_tier = [
        summarize(
            tier,
            [
                p
                for f in flows
                for p in f.partitions
                if any(p.topic in s.topics and str(s.tier) == tier for s in topology.sets)
            ],
        )
        for tier in tiers
    ]
    return report


def _measure_flow(
    settings: Settings, topology: Topology, flow: Flow, thresholds: Thresholds
) -> FlowLag:
    names = topology.names
    src_site = settings.sites[flow.source]
    hb_age = _heartbeat_age(settings, topology, flow)
    try:
        src = KafkaAdmin(flow.source, src_site, timeout=5.0)
        dst = KafkaAdmin(flow.target, settings.sites[flow.target], timeout=5.0)
        syncs = sync_history(
            read_offset_syncs(flow.source, src_site, names.offset_syncs_topic(flow.target)).records
        )
        latest = {tp: hist[-1] for tp, hist in syncs.items() if hist}
        existing, on_target = src.metadata().topics, dst.metadata().topics
        positions = {
            (topic, part): pos
            for topic in flow.topics
            if topic in existing
            for part, pos in _positions(
                src, dst, names.remote_topic(flow.source, topic), topic, on_target, latest
            ).items()
        }
        first = _first_times(src_site, positions)
    except StreamdrError as exc:
        return FlowLag(flow.name, hb_age, [], exc.message)
    now = now_ms()
    parts = [
        partition_lag(
            flow=flow.name,
            topic=topic,
            remote_topic=names.remote_topic(flow.source, topic),
            partition=part,
            source_start=pos.start,
            source_end=pos.end,
            target_end=pos.target_end,
            sync=pos.sync,
            first_unreplicated_ms=first.get((topic, part)),
            now_ms=now,
            thresholds=thresholds,
        )
        for (topic, part), pos in sorted(positions.items())
    ]
    return FlowLag(flow.name, hb_age, parts)


@dataclass(frozen=True)
class _Position:
    """What the two sites report for one partition."""

    start: int
    end: int
    target_end: int
    sync: OffsetSync | None

    @property
    def replicated(self) -> int:
        """Return the upstream offset up to which the target holds the partition."""
        return replicated_position(self.sync, self.start, self.target_end)


def _positions(
    src: KafkaAdmin,
    dst: KafkaAdmin,
    remote: str,
    topic: str,
    on_target: Container[str],
    latest: dict[tuple[str, int], OffsetSync],
) -> dict[int, _Position]:
    """Return each partition's source offsets, target end and newest offset sync."""
    start, end = src.start_offsets(topic), src.end_offsets(topic)
    target_end = dst.end_offsets(remote) if remote in on_target else {}
    return {
        p: _Position(start.get(p, 0), end[p], target_end.get(p, 0), latest.get((topic, p)))
        for p in sorted(end)
    }


def _first_times(
    site: SiteSettings, positions: dict[tuple[str, int], _Position]
) -> dict[tuple[str, int], int]:
    """Return the timestamp of the first unreplicated record of every partition that is behind.

    All partitions are fetched at once under one deadline: one probe per partition in turn made
    a sample take seconds on a busy machine and miss records (an unknown lag).
    """
    wanted = {
        tp: max(pos.replicated, pos.start)
        for tp, pos in positions.items()
        if pos.replicated < pos.end
    }
    if not wanted:
        return {}
    probe = make_consumer(site, "streamdr-lag-probe")
    try:
        probe.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        found: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while len(found) < len(wanted) and time.monotonic() < deadline:
            msg = probe.poll(0.2)
            if msg is None or msg.error():
                continue
            tp = (msg.topic(), msg.partition())
            if tp in wanted and tp not in found:
                found[tp] = int(msg.timestamp()[1])
                probe.pause([TopicPartition(*tp)])
        return found
    finally:
        probe.close()


def _heartbeat_age(settings: Settings, topology: Topology, flow: Flow) -> float | None:
    topic = topology.names.remote_heartbeats_topic(flow.source)
    try:
        beats = read_heartbeats(
            flow.target, settings.sites[flow.target], topic, tail=HEARTBEAT_TAIL
        ).records
    except StreamdrError:
        return None
    newest = max((b.timestamp_ms for b in beats if b.target == flow.source), default=None)
    return heartbeat_age(newest, now_ms())
