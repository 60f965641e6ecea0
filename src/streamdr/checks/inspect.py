"""Reading a live site into a :class:`SiteSnapshot` for the pure checks."""

from __future__ import annotations

from streamdr.checks.site import SiteSnapshot
from streamdr.errors import StreamdrError, UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.policy.quorum import describe_quorum
from streamdr.runtime.distribution import KafkaRuntime
from streamdr.settings.model import SiteSettings


def snapshot_site(
    name: str, site: SiteSettings, runtime: KafkaRuntime | None, *, timeout: float = 10.0
) -> SiteSnapshot:
    """Return what `check` needs from ``site``; an unreachable site yields ``error`` set.

    ``runtime`` runs Kafka's quorum tool; without one the quorum items report that.
    """
    admin = KafkaAdmin(name, site, timeout=timeout)
    try:
        md = admin.metadata()
        topic_configs = admin.topic_configs(md.topics)
        broker_configs = admin.broker_configs(b.node_id for b in md.brokers)
    except UnreachableError as exc:
        return SiteSnapshot(name, error=exc.message)
    except StreamdrError as exc:
        return SiteSnapshot(name, error=exc.message)
    quorum = describe_quorum(runtime, site) if runtime is not None else None
    return SiteSnapshot(name, None, md, topic_configs, broker_configs, quorum)
