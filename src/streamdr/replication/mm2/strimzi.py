"""Strimzi ``KafkaMirrorMaker2`` resources for the same topology (pure).

Strimzi runs MM2 as a Connect cluster that must live next to its target, so there is one
resource per target site, like the one-process-per-target local deployment. Two API versions:

- ``v1`` (default; the only one Strimzi >= 1.0 serves): ``spec.target`` is the target and
  Connect cluster, each ``mirrors[].source`` holds its source cluster inline. It has no heartbeat
  connector, so a target with no incoming flow gets no resource.
- ``v1beta2`` (Strimzi < 1.0): ``spec.clusters`` + ``connectCluster``, mirrors name clusters by
  alias. A target with no incoming flow still gets a heartbeat-only mirror: its heartbeats,
  replicated back, are how the other direction's lag in seconds is measured.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from streamdr.errors import InputError
from streamdr.replication.mm2.config import POLICY_CLASS, Mm2Tuning, topic_regex
from streamdr.replication.topology import Flow, Topology
from streamdr.settings.model import SiteSettings

GROUP = "kafka.strimzi.io"
STRIMZI_APIS = ("v1", "v1beta2")
DEFAULT_STRIMZI_API = "v1"
# Strimzi's v1beta2 defaults for the Connect group and topics, which v1 makes explicit. Keeping
# them lets a v1beta2 resource be replaced by its v1 form without losing the source connectors'
# committed offsets (Strimzi's own conversion tool keeps them the same way).
CONNECT_GROUP = "mirrormaker2-cluster"
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


def _heartbeat(topo: Topology, tuning: Mm2Tuning) -> dict[str, Any]:
    return {
        "config": {
            "heartbeats.topic.replication.factor": tuning.replication_factor,
            "emit.heartbeats.interval.seconds": int(tuning.heartbeat_interval_seconds),
            **_policy(topo.separator),
        }
    }


def _connectors(flow: Flow, topo: Topology, tuning: Mm2Tuning) -> dict[str, Any]:
    """Return a flow's source and checkpoint connectors and patterns (same in both APIs)."""
    rf, sep = tuning.replication_factor, topo.separator
    mirror: dict[str, Any] = {}
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


def _flush_ms(topology: Topology, target: str) -> int:
    flows = topology.flows_into(target)
    return int(min((f.emit_interval_seconds for f in flows), default=60.0) * 1000)


def _resource(api: str, name: str, kafka_version: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{api}",
        "kind": "KafkaMirrorMaker2",
        "metadata": {"name": name},
        "spec": {"version": kafka_version, "replicas": 1, **body},
    }


def _v1beta2_body(
    topology: Topology, sites: Mapping[str, SiteSettings], tuning: Mm2Tuning, target: str
) -> dict[str, Any]:
    rf, flush = tuning.replication_factor, _flush_ms(topology, target)
    mirrors = []
    for src in topology.sites:
        if src == target:
            continue
        mirror = {
            "sourceCluster": src,
            "targetCluster": target,
            "heartbeatConnector": _heartbeat(topology, tuning),
        }
        flow = topology.flow(src, target)
        mirrors.append(mirror | (_connectors(flow, topology, tuning) if flow else {}))
    return {
        "connectCluster": target,
        "clusters": [_cluster(n, sites[n], n == target, rf, flush) for n in topology.sites],
        "mirrors": mirrors,
    }


def _v1_body(
    topology: Topology, sites: Mapping[str, SiteSettings], tuning: Mm2Tuning, target: str
) -> dict[str, Any]:
    rf, flush = tuning.replication_factor, _flush_ms(topology, target)
    return {
        "target": {
            **_cluster(target, sites[target], True, rf, flush),
            "groupId": CONNECT_GROUP,
            "configStorageTopic": f"{CONNECT_GROUP}-configs",
            "statusStorageTopic": f"{CONNECT_GROUP}-status",
            "offsetStorageTopic": f"{CONNECT_GROUP}-offsets",
        },
        "mirrors": [
            {
                "source": _cluster(f.source, sites[f.source], False, rf, flush),
                **_connectors(f, topology, tuning),
            }
            for f in topology.flows_into(target)
        ],
    }


def check_strimzi_api(api: str) -> None:
    """Raise InputError unless ``api`` is a KafkaMirrorMaker2 API version we render."""
    if api not in STRIMZI_APIS:
        raise InputError(
            f"Strimzi API {api!r} is unknown (--strimzi-api)",
            hint="Use v1 (Strimzi 1.0 and later) or v1beta2 (Strimzi before 1.0).",
        )


def resource_target(resource: Mapping[str, Any]) -> str:
    """Return the alias of the target (Connect) cluster of a rendered resource, either API."""
    spec = resource["spec"]
    return str(spec["target"]["alias"] if "target" in spec else spec["connectCluster"])


def strimzi_resources(
    topology: Topology,
    sites: Mapping[str, SiteSettings],
    tuning: Mm2Tuning,
    *,
    kafka_version: str,
    name_prefix: str = "streamdr",
    api: str = DEFAULT_STRIMZI_API,
) -> list[dict[str, Any]]:
    """Return one ``KafkaMirrorMaker2`` resource per target site in Strimzi API ``api``.

    With ``v1`` a target with no incoming flow gets none (v1 has no heartbeat connector).
    Raises InputError for an API version other than ``v1`` or ``v1beta2``.
    """
    check_strimzi_api(api)
    out = []
    for target in topology.sites:
        if api == "v1" and not topology.flows_into(target):
            continue
        build = _v1_body if api == "v1" else _v1beta2_body
        body = build(topology, sites, tuning, target)
        out.append(_resource(api, f"{name_prefix}-mm2-to-{target}", kafka_version, body))
    return out


def render_yaml(resources: list[dict[str, Any]]) -> str:
    """Return the resources as a multi-document YAML stream."""
    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump_all(resources, buf)
    return buf.getvalue()
