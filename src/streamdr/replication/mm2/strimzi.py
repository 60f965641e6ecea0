"""Strimzi ``KafkaMirrorMaker2`` resources for the same topology (pure).

Strimzi runs MM2 as a Connect cluster that must live next to its target, so there is one
resource per target site, like the one-process-per-target local deployment. Two API versions:

- ``v1`` (default; the only one Strimzi >= 1.0 serves): ``spec.target`` is the target and
  Connect cluster, each ``mirrors[].source`` holds its source cluster inline. It has no heartbeat
  connector, so a target with no incoming flow gets no resource.
- ``v1beta2`` (Strimzi < 1.0): ``spec.clusters`` + ``connectCluster``, mirrors name clusters by
  alias. A target with no incoming flow still gets a heartbeat-only mirror: its heartbeats,
  replicated back, are how the other direction's lag in seconds is measured.

``replication.mm2.client_overrides`` land where Strimzi hands them to the same clients the
properties file tunes (config.CLIENT_ROLES): ``consumer.*`` in the source and checkpoint
connectors' ``config``, ``producer.*`` in the target (Connect) cluster's ``config``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from streamdr.errors import InputError
from streamdr.replication.mm2.config import POLICY_CLASS, Mm2Tuning, overrides_for, topic_regex
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
# What Strimzi 0.51 will not take in a cluster's ``config`` (the CRD's description of that field)
# and in a connector's: it drops such a key with only a warning in the operator's log, so an
# override there would be lost silently. The allow-list makes none of these; the check keeps it so.
CLUSTER_FORBIDDEN_PREFIXES = (
    "ssl.",
    "sasl.",
    "security.",
    "listeners",
    "plugin.path",
    "rest.",
    "bootstrap.servers",
    "consumer.interceptor.classes",
    "producer.interceptor.classes",
)
CLUSTER_FORBIDDEN_EXCEPTIONS = frozenset(
    {
        "ssl.endpoint.identification.algorithm",
        "ssl.cipher.suites",
        "ssl.protocol",
        "ssl.enabled.protocols",
    }
)
CONNECTOR_FORBIDDEN_KEYS = frozenset(
    {"name", "connector.class", "tasks.max", "connector.plugin.version"}
)
_INTEGER = re.compile(r"-?[0-9]+")


def strimzi_refusal(key: str, place: str) -> str | None:
    """Return why Strimzi would not apply ``key`` in the ``config`` of ``place``, else None."""
    if place == "targetCluster":
        if key in CLUSTER_FORBIDDEN_EXCEPTIONS or not key.startswith(CLUSTER_FORBIDDEN_PREFIXES):
            return None
        return "Strimzi forbids this prefix in a cluster's config"
    if key in CONNECTOR_FORBIDDEN_KEYS:
        return "Strimzi forbids this key in a connector's config"
    return None


def with_overrides(config: dict[str, Any], tuning: Mm2Tuning, place: str) -> dict[str, Any]:
    """Return ``config`` followed by the client overrides that Strimzi applies at ``place``.

    Raises InputError for an override Strimzi forbids there or that the renderer already sets
    (either would leave the deployed MirrorMaker without the operator's setting).
    """
    extra = overrides_for(tuning, place)
    for key in extra:
        why = strimzi_refusal(key, place) or (
            "the renderer sets it itself" if key in config else None
        )
        if why:
            raise InputError(
                f"replication.mm2.client_overrides: {key} cannot go into the Strimzi "
                f"resource ({place} config): {why}",
                hint="Remove the key from replication.mm2.client_overrides.",
            )
    # Numbers as numbers, as the rest of the resource writes them (Strimzi takes either).
    return config | {k: int(v) if _INTEGER.fullmatch(v) else v for k, v in extra.items()}


def _cluster(name: str, site: SiteSettings, config: dict[str, Any] | None) -> dict:
    """Return one cluster entry; ``config`` (Connect worker settings) only for the target."""
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
    if config is not None:
        doc["config"] = config
    return doc


def _target_config(topology: Topology, tuning: Mm2Tuning, target: str) -> dict[str, Any]:
    """Return the target (Connect) cluster's ``config``, the operator's producer overrides last."""
    rf = tuning.replication_factor
    config = {
        "config.storage.replication.factor": rf,
        "offset.storage.replication.factor": rf,
        "status.storage.replication.factor": rf,
        "offset.flush.interval.ms": _flush_ms(topology, target),
        # One replica: do not hold a restarted worker's tasks for 5 minutes.
        "scheduled.rebalance.max.delay.ms": 0,
    }
    return with_overrides(config, tuning, "targetCluster")


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
    source = {
        "replication.factor": rf,
        "offset-syncs.topic.replication.factor": rf,
        "offset.lag.max": tuning.offset_lag_max,
        "sync.topic.acls.enabled": "false",
        "refresh.topics.interval.seconds": refresh,
        **_policy(sep),
    }
    checkpoint = {
        "checkpoints.topic.replication.factor": rf,
        "sync.group.offsets.enabled": "true",
        "sync.group.offsets.interval.seconds": interval,
        "emit.checkpoints.interval.seconds": interval,
        "refresh.groups.interval.seconds": refresh,
        **_policy(sep),
    }
    mirror["sourceConnector"] = {
        "tasksMax": tuning.tasks_max,
        "config": with_overrides(source, tuning, "sourceConnector"),
    }
    mirror["checkpointConnector"] = {
        "tasksMax": 1,
        "config": with_overrides(checkpoint, tuning, "checkpointConnector"),
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
        "clusters": [
            _cluster(n, sites[n], _target_config(topology, tuning, n) if n == target else None)
            for n in topology.sites
        ],
        "mirrors": mirrors,
    }


def _v1_body(
    topology: Topology, sites: Mapping[str, SiteSettings], tuning: Mm2Tuning, target: str
) -> dict[str, Any]:
    return {
        "target": {
            **_cluster(target, sites[target], _target_config(topology, tuning, target)),
            "groupId": CONNECT_GROUP,
            "configStorageTopic": f"{CONNECT_GROUP}-configs",
            "statusStorageTopic": f"{CONNECT_GROUP}-status",
            "offsetStorageTopic": f"{CONNECT_GROUP}-offsets",
        },
        "mirrors": [
            {
                "source": _cluster(f.source, sites[f.source], None),
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
