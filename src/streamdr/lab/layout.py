"""Pure description of a lab: sites, nodes, ports, paths and broker properties.

Nothing here starts a process or touches the network, so every rule is unit-tested.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

LAB_STATE_FILE = "lab.json"
STATE_VERSION = 1
DEFAULT_SITES = ("primary", "dr")
DEFAULT_BROKERS = 3
LAB_HOST = "127.0.0.1"


@dataclass(frozen=True)
class NodeLayout:
    """One combined broker+controller node of a lab site."""

    site: str
    node_id: int
    port: int
    controller_port: int
    # Proxied listeners (0 = a lab made before Toxiproxy): WAN carries the other site's traffic
    # (MirrorMaker 2), EDGE the clients'; each is advertised at its Toxiproxy port.
    wan_port: int = 0
    wan_proxy_port: int = 0
    edge_port: int = 0
    edge_proxy_port: int = 0
    # SASL_PLAINTEXT listener with SCRAM (0 = none): shows the production security settings
    # working against real brokers. Only the nodes of one site get it.
    sasl_port: int = 0

    @property
    def bootstrap(self) -> str:
        """Return this node's client address."""
        return f"{LAB_HOST}:{self.port}"

    @property
    def proxied(self) -> bool:
        """Return True when the node has the WAN and EDGE listeners behind Toxiproxy."""
        return self.wan_port > 0 and self.edge_port > 0


@dataclass(frozen=True)
class SiteLayout:
    """One KRaft cluster of the lab."""

    name: str
    cluster_id: str
    nodes: tuple[NodeLayout, ...]

    @property
    def bootstrap_servers(self) -> str:
        """Return the comma-separated client addresses of every node."""
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def sasl_bootstrap_servers(self) -> str:
        """Return the SASL listeners' addresses, or "" when this site has none."""
        return ",".join(f"{LAB_HOST}:{n.sasl_port}" for n in self.nodes if n.sasl_port)

    @property
    def quorum_voters(self) -> str:
        """Return ``controller.quorum.voters`` for this site (static quorum)."""
        return ",".join(f"{n.node_id}@{LAB_HOST}:{n.controller_port}" for n in self.nodes)

    def node(self, node_id: int) -> NodeLayout:
        """Return the node with ``node_id``; raises KeyError if there is none."""
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise KeyError(node_id)


@dataclass(frozen=True)
class LabLayout:
    """Every site of the lab; persisted as ``lab.json`` in the lab directory."""

    kafka_version: str
    sites: tuple[SiteLayout, ...]
    version: int = STATE_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def site(self, name: str) -> SiteLayout:
        """Return the site called ``name``; raises KeyError if there is none."""
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def shape(self) -> tuple[tuple[str, int], ...]:
        """Return (site, node count) pairs, to compare a running lab with a request."""
        return tuple((s.name, len(s.nodes)) for s in self.sites)

    def to_json(self) -> str:
        """Return the layout as JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> LabLayout:
        """Return the layout parsed from :meth:`to_json` output; raises ValueError/KeyError."""
        raw = json.loads(text)
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported lab state version {raw.get('version')}")
        sites = tuple(
            SiteLayout(s["name"], s["cluster_id"], tuple(NodeLayout(**n) for n in s["nodes"]))
            for s in raw["sites"]
        )
        return LabLayout(raw["kafka_version"], sites, raw["version"], raw.get("extra", {}))


def plan_layout(
    sites: tuple[str, ...],
    brokers: int,
    ports: list[int],
    cluster_ids: list[str],
    kafka_version: str,
) -> LabLayout:
    """Return a layout giving each node a client and a controller port from ``ports``.

    ``ports`` needs ``2 * brokers * len(sites)`` distinct free ports; ``cluster_ids`` one per site.
    """
    need = 2 * brokers * len(sites)
    if len(set(ports)) < need or len(cluster_ids) < len(sites):
        raise ValueError(f"need {need} distinct ports and {len(sites)} cluster ids")
    it = iter(ports)
    out = []
    for site, cid in zip(sites, cluster_ids, strict=False):
        nodes = tuple(NodeLayout(site, i, next(it), next(it)) for i in range(1, brokers + 1))
        out.append(SiteLayout(site, cid, nodes))
    return LabLayout(kafka_version, tuple(out))


PROXY_PORTS_PER_NODE = 4


def with_proxy_ports(layout: LabLayout, ports: list[int], api_port: int) -> LabLayout:
    """Return ``layout`` with WAN/EDGE listener and proxy ports and the Toxiproxy API port.

    ``ports`` needs ``PROXY_PORTS_PER_NODE`` distinct ports per node; raises ValueError if short.
    """
    nodes = [n for s in layout.sites for n in s.nodes]
    if len(set(ports)) < PROXY_PORTS_PER_NODE * len(nodes) or api_port in ports:
        raise ValueError(f"need {PROXY_PORTS_PER_NODE * len(nodes)} distinct proxy ports")
    it = iter(ports)
    sites = tuple(
        SiteLayout(
            s.name,
            s.cluster_id,
            tuple(
                replace(
                    n,
                    wan_port=next(it),
                    wan_proxy_port=next(it),
                    edge_port=next(it),
                    edge_proxy_port=next(it),
                )
                for n in s.nodes
            ),
        )
        for s in layout.sites
    )
    extra = {**layout.extra, "toxiproxy_api_port": api_port}
    return LabLayout(layout.kafka_version, sites, layout.version, extra)


SASL_LISTENER = "SASL"
SASL_MECHANISM = "SCRAM-SHA-512"
SASL_USERNAME = "streamdr-lab"
SASL_PASSWORD_FILE = "sasl-password"


def with_sasl_ports(
    layout: LabLayout, site: str, ports: list[int], password_file: Path
) -> LabLayout:
    """Return ``layout`` with a SCRAM listener port on every node of ``site``.

    The listener and the credential file (never the password) are recorded in ``extra["sasl"]``.
    Raises KeyError for an unknown site, ValueError when ``ports`` are too few or repeat.
    """
    target = layout.site(site)
    if len(set(ports)) < len(target.nodes):
        raise ValueError(f"need {len(target.nodes)} distinct SASL ports")
    nodes = tuple(replace(n, sasl_port=p) for n, p in zip(target.nodes, ports, strict=False))
    sites = tuple(
        SiteLayout(s.name, s.cluster_id, nodes) if s.name == site else s for s in layout.sites
    )
    sasl = {
        "site": site,
        "listener": SASL_LISTENER,
        "protocol": "SASL_PLAINTEXT",
        "mechanism": SASL_MECHANISM,
        "username": SASL_USERNAME,
        "password_file": str(password_file),
        "bootstrap_servers": ",".join(f"{LAB_HOST}:{p}" for p in ports[: len(nodes)]),
    }
    return LabLayout(layout.kafka_version, sites, layout.version, {**layout.extra, "sasl": sasl})


@dataclass(frozen=True)
class SaslListener:
    """A site's SCRAM listener as ``with_sasl_ports`` records it (the password is in a file)."""

    site: str
    bootstrap_servers: str
    protocol: str
    mechanism: str
    username: str
    password_file: str


def sasl_listener(layout: LabLayout) -> SaslListener | None:
    """Return the SCRAM listener recorded in ``layout``, or None when the lab has none.

    ``lab.json`` is read back from disk, so the record is checked: a record that is not a mapping
    of strings naming a site of the layout counts as none. Only the named fields are taken, so a
    stray secret in the record is never shown.
    """
    record = layout.extra.get("sasl")
    if not isinstance(record, dict):
        return None
    values = {f.name: record.get(f.name) for f in fields(SaslListener)}
    if not all(isinstance(v, str) and v for v in values.values()):
        return None
    listener = SaslListener(**values)  # type: ignore[arg-type]
    if listener.site not in {s.name for s in layout.sites}:
        return None
    return listener


def _with_sasl(node: NodeLayout, props: dict[str, str]) -> dict[str, str]:
    """Return listener ``props`` plus the node's SCRAM listener, others unchanged."""
    if not node.sasl_port:
        return props
    sasl = f"{SASL_LISTENER}://{LAB_HOST}:{node.sasl_port}"
    return {
        "listeners": f"{props['listeners']},{sasl}",
        "advertised.listeners": f"{props['advertised.listeners']},{sasl}",
        "listener.security.protocol.map": f"{props['listener.security.protocol.map']},"
        f"{SASL_LISTENER}:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": SASL_MECHANISM,
        # The broker side of SCRAM needs a login module even though it never logs in itself
        # (brokers talk to each other over PLAINTEXT); credentials live in the KRaft metadata.
        f"listener.name.{SASL_LISTENER.lower()}.{SASL_MECHANISM.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
    }


def _listeners(node: NodeLayout) -> dict[str, str]:
    return _with_sasl(node, _plain_and_proxied_listeners(node))


def _plain_and_proxied_listeners(node: NodeLayout) -> dict[str, str]:
    plain = f"PLAINTEXT://{LAB_HOST}:{node.port}"
    controller = f"CONTROLLER://{LAB_HOST}:{node.controller_port}"
    if not node.proxied:
        return {
            "listeners": f"{plain},{controller}",
            "advertised.listeners": plain,
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        }
    # A client that bootstraps through a proxy is told the proxy's address for every broker,
    # so all its traffic keeps going through the proxy (where the faults are injected).
    wan, edge = f"WAN://{LAB_HOST}:{node.wan_port}", f"EDGE://{LAB_HOST}:{node.edge_port}"
    return {
        "listeners": f"{plain},{controller},{wan},{edge}",
        "advertised.listeners": f"{plain},WAN://{LAB_HOST}:{node.wan_proxy_port},"
        f"EDGE://{LAB_HOST}:{node.edge_proxy_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "WAN:PLAINTEXT,EDGE:PLAINTEXT",
    }


def node_dir(lab_dir: Path, node: NodeLayout) -> Path:
    """Return the directory holding one node's properties, data, logs and PID file."""
    return lab_dir / node.site / f"node-{node.node_id}"


def broker_properties(site: SiteLayout, node: NodeLayout, data_dir: Path) -> dict[str, str]:
    """Return ``server.properties`` of a combined node, with the strategy's HA defaults.

    Replication settings are capped by the node count so a one-broker lab still starts.
    """
    n = len(site.nodes)
    rf, isr = str(min(3, n)), str(min(2, n))
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        **_listeners(node),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.voters": site.quorum_voters,
        "log.dirs": str(data_dir),
        # The strategy's "Kafka Broker Configuration for High Availability".
        "default.replication.factor": rf,
        "min.insync.replicas": isr,
        "unclean.leader.election.enable": "false",
        "num.recovery.threads.per.data.dir": "4",
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": isr,
        # Live data retention per the strategy: 7 days.
        "log.retention.hours": "168",
        # Topics are created deliberately (policy), never by a typo in a producer.
        "auto.create.topics.enable": "false",
        "num.partitions": "3",
        # Lab-sized internal topics and no rebalance delay keep tests and drills quick.
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.num.partitions": "10",
        "group.initial.rebalance.delay.ms": "0",
    }


def render_properties(props: dict[str, str]) -> str:
    """Return Java properties text for ``props`` (keys sorted, one per line)."""
    lines = ["# Written by `streamdr lab`; regenerated on every start."]
    lines += [f"{k}={v}" for k, v in sorted(props.items())]
    return "\n".join(lines) + "\n"
