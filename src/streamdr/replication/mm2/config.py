"""MirrorMaker 2 ``mm2.properties`` generated from a :class:`Topology` (pure).

One file describes every flow; one MM2 process runs per target site (``--clusters <target>``),
as Kafka recommends (run MM2 next to the cluster it writes to). A process per target also means a
dead site only stops the process writing into it: MM2 looks up the target's cluster id when it
creates a herder and exits if the target does not answer.

Secrets never reach the file: SASL passwords are ``${env:VAR}`` references resolved by Kafka's
EnvVarConfigProvider inside the MM2 JVM.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from streamdr.errors import InputError
from streamdr.replication.topology import Topology
from streamdr.settings.model import SiteSettings
from streamdr.settings.replication import ReplicationSettings

POLICY_CLASS = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"
DEFAULT_INSTANCE = "default"
INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
# Connect's source-task producer disables idempotence and allows one request in flight, which
# caps a task at one round trip per batch; with idempotence, 5 in flight keep per-partition order
# and make a retried batch land once. A little linger fills batches at high rates.
WRITER_PRODUCER = {
    "enable.idempotence": "true",
    "max.in.flight.requests.per.connection": "5",
    "linger.ms": "10",
    "batch.size": "262144",
}
_SASL_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


@dataclass(frozen=True)
class ClientRole:
    """Which MM2 clients one kind of client override tunes, and where each deployment sets them.

    ``cluster`` is the end of a flow whose clients they are (``source`` or ``target``): the
    properties file prefixes the key with that site. ``strimzi`` names the ``config`` maps of a
    ``KafkaMirrorMaker2`` resource that configure the same clients (replication/mm2/strimzi.py).
    """

    cluster: str
    strimzi: tuple[str, ...]


# One table for both deployments, keyed like settings.replication.CLIENT_KEYS. Consumers read
# the source: MirrorSourceConnector's record consumer and MirrorCheckpointConnector's
# offset-syncs consumer both take ``consumer.*`` from their connector config, as both take
# ``<source>.consumer.*`` from the properties file. Producers write the target: ``producer.*``
# in the Connect worker's config (the target cluster's ``config`` in Strimzi) is what
# ``<target>.producer.*`` is in the properties file, the producer of every MM2 task.
CLIENT_ROLES: dict[str, ClientRole] = {
    "consumer": ClientRole("source", ("sourceConnector", "checkpointConnector")),
    "producer": ClientRole("target", ("targetCluster",)),
}


@dataclass(frozen=True)
class Mm2Tuning:
    """Intervals and sizes that are not per flow."""

    refresh_interval_seconds: float
    offset_lag_max: int
    tasks_max: int
    replication_factor: int
    heartbeat_interval_seconds: float = 1.0
    connect_offset_partitions: int | None = None  # None: Connect's default (25)
    # replication.mm2.client_overrides, validated against the settings' allow-list.
    consumer_overrides: tuple[tuple[str, str], ...] = ()
    producer_overrides: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def from_settings(rep: ReplicationSettings, lab: bool) -> Mm2Tuning:
        """Return tuning from the settings.

        The lab refreshes topics and groups every 2 s and gives MM2's Connect offset topic 5
        partitions instead of 25 (fewer partitions for the lab's brokers to recover).
        """
        refresh = rep.refresh_interval_seconds or (2.0 if lab else 60.0)
        return Mm2Tuning(
            refresh,
            rep.offset_lag_max,
            rep.tasks_max,
            rep.replication_factor,
            connect_offset_partitions=5 if lab else None,
            consumer_overrides=tuple(sorted(rep.mm2.overrides("consumer").items())),
            producer_overrides=tuple(sorted(rep.mm2.overrides("producer").items())),
        )

    def client_overrides(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Return the overrides by kind of client (the keys of CLIENT_ROLES), without prefix."""
        return {"consumer": self.consumer_overrides, "producer": self.producer_overrides}


def overrides_for(tuning: Mm2Tuning, place: str) -> dict[str, str]:
    """Return the client overrides a Strimzi ``place`` of CLIENT_ROLES sets, as ``kind.key``."""
    return {
        f"{kind}.{key}": value
        for kind, pairs in tuning.client_overrides().items()
        if place in CLIENT_ROLES[kind].strimzi
        for key, value in pairs
    }


def validate_instance(name: str) -> str:
    """Return ``name`` if it is a valid MM2 instance name; raises InputError otherwise."""
    if not INSTANCE_NAME.match(name):
        raise InputError(
            f"replication instance name {name!r} is invalid",
            hint="Use lower-case letters, digits and '-' (at most 41).",
        )
    return name


def topic_regex(names: tuple[str, ...]) -> str:
    """Return MM2's comma-separated regex list matching exactly ``names``."""
    return ",".join(re.escape(n) for n in names)


def site_properties(site: SiteSettings) -> dict[str, str]:
    """Return a site's Java client properties; secrets as ``${env:VAR}`` references."""
    sec = site.security
    props = {"bootstrap.servers": site.bootstrap_servers, "security.protocol": sec.protocol}
    if sec.protocol.startswith("SASL"):
        mech = sec.sasl_mechanism or "PLAIN"
        props["sasl.mechanism"] = mech
        props["sasl.jaas.config"] = (
            f'{_SASL_MODULES[mech]} required username="{sec.sasl_username}" '
            f'password="${{env:{sec.sasl_password_env}}}";'
        )
    if sec.ssl_ca_location:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = sec.ssl_ca_location
    if sec.ssl_certificate_location and sec.ssl_key_location:
        props["ssl.keystore.type"] = "PEM"
        props["ssl.keystore.certificate.chain"] = sec.ssl_certificate_location
        props["ssl.keystore.key"] = sec.ssl_key_location
        if sec.ssl_key_password_env:
            props["ssl.key.password"] = f"${{env:{sec.ssl_key_password_env}}}"
    return props


def _uses_env(sites: Mapping[str, SiteSettings]) -> bool:
    return any(
        s.security.sasl_password_env or s.security.ssl_key_password_env for s in sites.values()
    )


def mm2_properties(
    topology: Topology,
    sites: Mapping[str, SiteSettings],
    tuning: Mm2Tuning,
    instance: str = DEFAULT_INSTANCE,
) -> dict[str, str]:
    """Return every ``mm2.properties`` entry for ``topology``.

    Raises InputError when a named instance would share a Connect group (two sources, one target).
    """
    rf = str(tuning.replication_factor)
    props: dict[str, str] = {
        "clusters": ",".join(topology.sites),
        "replication.policy.class": POLICY_CLASS,
        "replication.policy.separator": topology.separator,
        # Remote, internal and Connect topics get the strategy's RF 3 (Kafka's default is 2
        # for remote topics).
        "replication.factor": rf,
        "checkpoints.topic.replication.factor": rf,
        "heartbeats.topic.replication.factor": rf,
        "offset-syncs.topic.replication.factor": rf,
        "offset.storage.replication.factor": rf,
        "status.storage.replication.factor": rf,
        "config.storage.replication.factor": rf,
        "sync.group.offsets.enabled": "true",
        "emit.heartbeats.enabled": "true",
        "emit.heartbeats.interval.seconds": _secs(tuning.heartbeat_interval_seconds),
        "emit.checkpoints.enabled": "true",
        "offset.lag.max": str(tuning.offset_lag_max),
        "refresh.topics.interval.seconds": _secs(tuning.refresh_interval_seconds),
        "refresh.groups.interval.seconds": _secs(tuning.refresh_interval_seconds),
        "tasks.max": str(tuning.tasks_max),
        # ACL sync needs an authorizer; topic configs (min ISR, retention) are synced.
        "sync.topic.acls.enabled": "false",
        "sync.topic.configs.enabled": "true",
        # Kafka's default (hybrid_warn) also scans the whole classpath by reflection, twice per
        # JVM; every plugin MM2 needs has a ServiceLoader manifest. On the loaded lab host this
        # took an MM2 JVM 53 s to reach "Targeting clusters", against 6 s with service_load.
        "plugin.discovery": "service_load",
    }
    if tuning.connect_offset_partitions:
        props["offset.storage.partitions"] = str(tuning.connect_offset_partitions)
        props["status.storage.partitions"] = "1"
    if _uses_env(sites):
        props["config.providers"] = "env"
        props["config.providers.env.class"] = (
            "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
        )
    for name in topology.sites:
        props.update({f"{name}.{k}": v for k, v in site_properties(sites[name]).items()})
    props.update(_flow_properties(topology))
    props.update(_worker_properties(topology, instance))
    props.update(_client_overrides(topology, tuning))
    return props


def _client_overrides(topology: Topology, tuning: Mm2Tuning) -> dict[str, str]:
    """Return the operator's client overrides: consumers of each source, producers of each target.

    MM2 runs next to the site it writes, so its consumers are the ones crossing the WAN; they
    read ``<source>.consumer.*``. Producer overrides go wherever WRITER_PRODUCER does (every
    site's writer) and, coming after it, win. Where each kind goes is CLIENT_ROLES.
    """
    ends = {"source": sorted({f.source for f in topology.flows}), "target": topology.sites}
    props: dict[str, str] = {}
    for kind, pairs in tuning.client_overrides().items():
        for site in ends[CLIENT_ROLES[kind].cluster]:
            props.update({f"{site}.{kind}.{k}": v for k, v in pairs})
    return props


def _secs(value: float) -> str:
    return str(max(1, round(value)))


def _flow_properties(topology: Topology) -> dict[str, str]:
    props: dict[str, str] = {}
    for a in topology.sites:
        for b in topology.sites:
            if a == b:
                continue
            flow = topology.flow(a, b)
            prefix = f"{a}->{b}."
            props[prefix + "enabled"] = "true" if flow else "false"
            if flow is None:
                continue
            interval = _secs(flow.emit_interval_seconds)
            props[prefix + "topics"] = topic_regex(flow.topics)
            props[prefix + "groups"] = topic_regex(flow.groups) if flow.groups else "^$"
            props[prefix + "emit.checkpoints.interval.seconds"] = interval
            props[prefix + "sync.group.offsets.interval.seconds"] = interval
    return props


def _worker_properties(topology: Topology, instance: str) -> dict[str, str]:
    """Return per-target Connect worker settings (offset flush, and a named instance's group)."""
    props: dict[str, str] = {}
    for target in topology.sites:
        flows = topology.flows_into(target)
        # Offset syncs for records below offset.lag.max spacing are emitted on the worker's
        # offset flush; flushing at the checkpoint interval keeps translations exact when idle.
        flush = min((f.emit_interval_seconds for f in flows), default=60.0)
        props[f"{target}.offset.flush.interval.ms"] = str(int(max(1.0, flush) * 1000))
        # Connect holds a lost worker's tasks for up to 5 minutes by default, waiting for it to
        # come back; with one MM2 JVM per target the "lost" worker is its own previous life
        # (a restart, or a target site that went away), so reassign at once.
        props[f"{target}.scheduled.rebalance.max.delay.ms"] = "0"
        props.update({f"{target}.producer.{k}": v for k, v in WRITER_PRODUCER.items()})
        if instance == DEFAULT_INSTANCE:
            continue
        sources = {s for s in topology.sites if s != target}
        if len(sources) > 1:
            raise InputError(
                f"a named replication instance ({instance!r}) supports two sites only",
                hint="Run the default instance for three or more sites.",
            )
        props.update(
            {
                f"{target}.group.id": f"{instance}-mm2-{target}",
                f"{target}.offset.storage.topic": f"mm2-offsets.{instance}.{target}.internal",
                f"{target}.config.storage.topic": f"mm2-configs.{instance}.{target}.internal",
                f"{target}.status.storage.topic": f"mm2-status.{instance}.{target}.internal",
            }
        )
    return props


def _escape(text: str, key: bool) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        for ch in "=: #!":
            out = out.replace(ch, "\\" + ch)
    elif out.startswith(" "):
        out = "\\" + out
    return out


def render_properties(props: Mapping[str, str], header: str = "") -> str:
    """Return Java properties text (backslashes escaped, so regexes survive ``load()``)."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{_escape(k, True)}={_escape(v, False)}" for k, v in props.items()]
    return "\n".join(lines) + "\n"
