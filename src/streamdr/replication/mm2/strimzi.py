"""Strimzi ``KafkaMirrorMaker2`` resources for the same topology (pure).

Strimzi runs MM2 as a Connect cluster that must live next to its target (``connectCluster``), so
there is one resource per target site, like the one-process-per-target local deployment. A
target with no incoming flow still gets a heartbeat-only mirror: its heartbeats, replicated back,
are how the other direction's lag in seconds is measured.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from streamdr.replication.mm2.config import POLICY_CLASS, Mm2Tuning, topic_regex
from streamdr.replication.topology import Flow, Topology
from streamdr.settings.model import SiteSettings

API_VERSION = "kafka.strimzi.io/v1beta2"
_AUTH_TYPES = {"PLAIN": "plain", "SCRAM-SHA-256": "scram-sha-256", "SCRAM-SHA-512": "scram-sha-512"}


def _cluster(name: str, site: SiteSettings, target: bool, rf: int, flush_ms: int) -> dict:
    sec = site.security
    doc: dict[str, Any] = {"alias": name, "bootstrapServers": site.bootstrap_servers}
    if sec.protocol in ("SSL", "SASL_SSL"):
        doc["tls"] = {
            "trustedCertificates": [{"secretName": f"{name}-cluster-ca-cert", "pattern": "*.crt"}]
        }
    if sec.protocol.startswith("SASL"):
        doc["authentication"] = {
            "type": _AUTH_TYPES[sec.sasl_mechanism or "PLAIN"],
            "username": sec.sasl_username,
            "passwordSecret": {"secretName": f"{name}-mm2-credentials", "password": "password"},
        }
    if target:
        doc["config"] = {
            "config.storage.replication.factor": rf,
            "offset.storage.replication.factor": rf,
            "status.storage.replication.factor": rf,
            "offset.flush.interval.ms": flush_ms,
            # One replica: do not hold a restarted worker's tasks for 5 minutes.
            "scheduled.rebalance.max.delay.ms": 0,
        }
    return doc


def _policy(sep: str) -> dict[str, Any]:
    return {"replication.policy.class": POLICY_CLASS, "replication.policy.separator": sep}


def _mirror(source: str, target: str, flow: Flow | None, topo: Topology, tuning: Mm2Tuning) -> dict:
    rf, sep = tuning.replication_factor, topo.separator
    mirror: dict[str, Any] = {
        "sourceCluster": source,
        "targetCluster": target,
        "heartbeatConnector": {
            "config": {
                "heartbeats.topic.replication.factor": rf,
                "emit.heartbeats.interval.seconds": int(tuning.heartbeat_interval_seconds),
                **_policy(sep),
            }
        },
    }
    if flow is None:
        return mirror
    interval = max(1, round(flow.emit_interval_seconds))
    refresh = max(1, round(tuning.refresh_interval_seconds))
    mirror["sourceConnector"] = {
        "tasksMax": tuning.tasks_max,
        "config": {
            "replication.factor": rf,
            "offset-syncs.topic.replication.factor": rf,
            "offset.lag.max": tuning.offset_lag_max,
            "sync.topic.acls.enabled": "false",
            "refresh.topics.interval.seconds": refresh,
            **_policy(sep),
        },
    }
    mirror["checkpointConnector"] = {
        "tasksMax": 1,
        "config": {
            "checkpoints.topic.replication.factor": rf,
            "sync.group.offsets.enabled": "true",
            "sync.group.offsets.interval.seconds": interval,
            "emit.checkpoints.interval.seconds": interval,
            "refresh.groups.interval.seconds": refresh,
            **_policy(sep),
        },
    }
    mirror["topicsPattern"] = topic_regex(flow.topics)
    mirror["groupsPattern"] = topic_regex(flow.groups) if flow.groups else "^$"
    return mirror


def strimzi_resources(
    topology: Topology,
    sites: Mapping[str, SiteSettings],
    tuning: Mm2Tuning,
    *,
    kafka_version: str,
    name_prefix: str = "streamdr",
) -> list[dict[str, Any]]:
    """Return one ``KafkaMirrorMaker2`` resource per target site."""
    out = []
    for target in topology.sites:
        flows = topology.flows_into(target)
        flush = min((f.emit_interval_seconds for f in flows), default=60.0)
        clusters = [
            _cluster(n, sites[n], n == target, tuning.replication_factor, int(flush * 1000))
            for n in topology.sites
        ]
        mirrors = [
            _mirror(src, target, topology.flow(src, target), topology, tuning)
            for src in topology.sites
            if src != target
        ]
        out.append(
            {
                "apiVersion": API_VERSION,
                "kind": "KafkaMirrorMaker2",
                "metadata": {"name": f"{name_prefix}-mm2-to-{target}"},
                "spec": {
                    "version": kafka_version,
                    "replicas": 1,
                    "connectCluster": target,
                    "clusters": clusters,
                    "mirrors": mirrors,
                },
            }
        )
    return out


def render_yaml(resources: list[dict[str, Any]]) -> str:
    """Return the resources as a multi-document YAML stream."""
    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump_all(resources, buf)
    return buf.getvalue()
