"""What the deployed platform's DR costs now, per tier and per workflow.

The inputs come from three places, each behind a small function so the arithmetic stays pure:
the deployed workflows (metadata DB), the topics' byte rates and retention (Kafka admin: growth
of end offsets over a sample window x average record size of the newest records), and the bytes
the backup catalog stores. :func:`attribute` turns them into a bill.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from streamdr.backup.targets import backup_stores
from streamdr.cost.prices import PriceBook
from streamdr.kafka.admin import KafkaAdmin
from streamdr.kafka.clients import make_consumer, translate
from streamdr.policy.tiers import TIER_REPLICATION, ReplicationMode, Tier
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.deployments import deployed_workflows
from streamdr.workflows.drift import workflow_topics

SECONDS_PER_MONTH = 730 * 3600
SAMPLE_RECORDS = 50  # newest records per partition used for the average record size


@dataclass(frozen=True)
class DeployedWorkflow:
    """A deployed workflow's name, tier and the topics it reads and writes."""

    name: str
    tier: Tier
    topics: tuple[str, ...]


@dataclass(frozen=True)
class TopicVolume:
    """A topic's measured byte rate and its retention."""

    bytes_per_s: float
    retention_ms: int | None


@dataclass(frozen=True)
class Platform:
    """Everything measured about the deployed platform."""

    workflows: tuple[DeployedWorkflow, ...]
    volumes: Mapping[str, TopicVolume]
    backup_bytes: Mapping[str, int]
    brokers: Mapping[str, int]  # site -> broker count
    primary_site: str
    broker_instance: str


def _topic_costs(p: Platform, book: PriceBook) -> dict[str, dict[str, float]]:
    """Return per topic: its monthly transfer (if replicated) and backup storage cost."""
    replicated = {
        t
        for w in p.workflows
        if TIER_REPLICATION[w.tier] != ReplicationMode.BACKUP_ONLY
        for t in w.topics
    }
    costs: dict[str, dict[str, float]] = {}
    for topic in {t for w in p.workflows for t in w.topics}:
        volume = p.volumes.get(topic, TopicVolume(0.0, None)).bytes_per_s * SECONDS_PER_MONTH
        gb = 1e9 if book.gb_per_tb == 1000 else 2**30
        costs[topic] = {
            "transfer": volume / gb * book.transfer.cross_region if topic in replicated else 0.0,
            "backup": p.backup_bytes.get(topic, 0) / gb * book.storage.standard,
            "bytes_per_s": p.volumes.get(topic, TopicVolume(0.0, None)).bytes_per_s,
        }
    return costs


def attribute(p: Platform, book: PriceBook) -> dict[str, Any]:
    """Return the monthly bill per workflow and per tier; raises InputError for an unpriced
    broker instance type.

    Brokers are shared: the primary site's cost is split over workflows by byte rate, the other
    sites' over the replicated (critical and standard) workflows only. A topic used by several
    workflows is split equally between them. With no traffic at all, splits are equal.
    """
    broker_month = book.instance_rate(p.broker_instance) * book.hours_per_month
    topic_costs = _topic_costs(p, book)
    users: dict[str, int] = defaultdict(int)
    for w in p.workflows:
        for t in w.topics:
            users[t] += 1
    rows = {w.name: _workflow_row(w, topic_costs, users) for w in p.workflows}
    primary = p.brokers.get(p.primary_site, 0) * broker_month
    others = sum(n for s, n in p.brokers.items() if s != p.primary_site) * broker_month
    _share(rows, [w.name for w in p.workflows], primary, "primary_cluster")
    dr_users = [
        w.name for w in p.workflows if TIER_REPLICATION[w.tier] != ReplicationMode.BACKUP_ONLY
    ]
    _share(rows, dr_users, others, "dr_cluster")
    for row in rows.values():
        row["total"] = sum(row[k] for k in ("primary_cluster", "dr_cluster", "transfer", "backup"))
    return {
        "workflows": sorted(rows.values(), key=lambda r: r["workflow"]),
        "tiers": _by_tier(rows.values()),
        "unattributed_dr_cluster": 0.0 if dr_users else others,
        "total": primary + others + sum(c["transfer"] + c["backup"] for c in topic_costs.values()),
    }


def _workflow_row(
    w: DeployedWorkflow, costs: Mapping[str, Mapping[str, float]], users: Mapping[str, int]
) -> dict[str, Any]:
    def part(key: str) -> float:
        return sum(costs[t][key] / users[t] for t in w.topics)

    return {
        "workflow": w.name,
        "tier": str(w.tier),
        "bytes_per_s": part("bytes_per_s"),
        "transfer": part("transfer"),
        "backup": part("backup"),
        "primary_cluster": 0.0,
        "dr_cluster": 0.0,
    }


def _share(rows: dict[str, dict[str, Any]], names: list[str], amount: float, key: str) -> None:
    """Split ``amount`` over ``names`` by byte rate (equally when none has traffic)."""
    total = sum(rows[n]["bytes_per_s"] for n in names)
    for n in names:
        weight = rows[n]["bytes_per_s"] / total if total > 0 else 1 / len(names)
        rows[n][key] = amount * weight


def _by_tier(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    tiers: dict[str, dict[str, float]] = {}
    for row in rows:
        t = tiers.setdefault(row["tier"], {"workflows": 0, "total": 0.0, "bytes_per_s": 0.0})
        t["workflows"] += 1
        t["total"] += row["total"]
        t["bytes_per_s"] += row["bytes_per_s"]
    return tiers


# ---- I/O: each reads one source and returns plain data ---------------------------------------


def read_workflows(settings: Settings, store: MetadataStore) -> list[DeployedWorkflow]:
    """Return the deployed workflows with tiers and topics (empty when nothing is deployed)."""
    return [
        DeployedWorkflow(w.name, w.tier, tuple(workflow_topics(w, settings)))
        for w in deployed_workflows(settings, store)
    ]


def sample_volumes(admin: KafkaAdmin, topics: list[str], seconds: float) -> dict[str, TopicVolume]:
    """Return each existing topic's byte rate over ``seconds``; raises UnreachableError."""
    present = [t for t in topics if t in admin.metadata().topics]
    before = {t: admin.end_offsets(t) for t in present}
    started = time.monotonic()
    time.sleep(seconds)
    after = {t: admin.end_offsets(t) for t in present}
    elapsed = time.monotonic() - started
    retention = admin.topic_configs(present)
    volumes = {}
    for t in present:
        grown = sum(max(0, after[t].get(p, 0) - o) for p, o in before[t].items())
        size = average_record_bytes(admin, t, after[t]) if grown else 0.0
        raw = retention.get(t, {}).get("retention.ms")
        volumes[t] = TopicVolume(
            grown * size / elapsed, int(raw) if raw and raw.lstrip("-").isdigit() else None
        )
    return volumes


def average_record_bytes(admin: KafkaAdmin, topic: str, ends: Mapping[int, int]) -> float:
    """Return the mean key+value size of the newest records of ``topic`` (0 when none read)."""
    consumer = make_consumer(admin.site, f"streamdr-cost-{uuid.uuid4().hex[:12]}")
    try:
        consumer.assign(
            [TopicPartition(topic, p, max(0, end - SAMPLE_RECORDS)) for p, end in ends.items()]
        )
        sizes: list[int] = []
        deadline = time.monotonic() + 10
        while len(sizes) < SAMPLE_RECORDS * len(ends) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                sizes.append(len(msg.value() or b"") + len(msg.key() or b""))
        return sum(sizes) / len(sizes) if sizes else 0.0
    except KafkaException as exc:
        raise translate(exc, admin.site_name, admin.site, f"sampling {topic}") from exc
    finally:
        consumer.close()


def backup_bytes(settings: Settings) -> dict[str, int]:
    """Return the bytes of backup data per topic in the default store (empty without stores)."""
    if not settings.stores:
        return {}
    totals: dict[str, int] = defaultdict(int)
    for key, info in backup_stores(settings, settings.primary_site, None, None)[0].data_objects():
        totals[key.topic] += info.size
    return dict(totals)


def broker_counts(settings: Settings) -> dict[str, int]:
    """Return the live broker count of every site; raises UnreachableError for a silent site."""
    return {
        name: len(KafkaAdmin(name, site).metadata().brokers)
        for name, site in settings.sites.items()
    }
