"""Topic names under MirrorMaker 2's DefaultReplicationPolicy, with a configurable separator.

Mirrors ``DefaultReplicationPolicy`` (connect/mirror-client): remote topics are
``<source><sep><topic>``; with ``replication.policy.internal.topic.separator.enabled`` at its
default (true) the internal topics use the separator too: ``<source><sep>checkpoints<sep>internal``
and ``mm2-offset-syncs<sep><target><sep>internal``. Heartbeats are always ``heartbeats``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streamdr.errors import InputError

HEARTBEATS_TOPIC = "heartbeats"


@dataclass(frozen=True)
class ReplicationNames:
    """Naming rules of one MM2 deployment."""

    separator: str = "_"

    def remote_topic(self, source: str, topic: str) -> str:
        """Return the name ``topic`` of ``source`` has on another site."""
        return f"{source}{self.separator}{topic}"

    def topic_source(self, topic: str) -> str | None:
        """Return the site a remote topic came from, or None for a local topic."""
        parts = topic.split(self.separator)
        return parts[0] if len(parts) >= 2 else None

    def upstream_topic(self, topic: str) -> str | None:
        """Return the name on the previous hop, or None for a local topic."""
        source = self.topic_source(topic)
        return None if source is None else topic[len(source) + len(self.separator) :]

    def original_topic(self, topic: str) -> str:
        """Return the name on the site that produced it, across any number of hops."""
        upstream = self.upstream_topic(topic)
        return topic if upstream is None or upstream == topic else self.original_topic(upstream)

    def checkpoints_topic(self, source: str) -> str:
        """Return the checkpoints topic on a target for groups of ``source``."""
        return f"{source}{self.separator}checkpoints{self.separator}internal"

    def offset_syncs_topic(self, target: str) -> str:
        """Return the offset-syncs topic (on the source) of the flow into ``target``."""
        return f"mm2-offset-syncs{self.separator}{target}{self.separator}internal"

    def remote_heartbeats_topic(self, source: str) -> str:
        """Return the replicated heartbeats of ``source`` as they appear on a target."""
        return self.remote_topic(source, HEARTBEATS_TOPIC)

    def is_cycle(self, topic: str, target: str) -> bool:
        """Return True when replicating ``topic`` to ``target`` would send it back home."""
        source = self.topic_source(topic)
        if source is None:
            return False
        if source == target:
            return True
        upstream = self.upstream_topic(topic)
        return upstream is not None and upstream != topic and self.is_cycle(upstream, target)

    def source_chain(self, topic: str, sites: Iterable[str]) -> list[str]:
        """Return the site prefixes of ``topic``, nearest first (``dr_primary_t``: dr, primary)."""
        names, chain = set(sites), []
        while (source := self.topic_source(topic)) in names:
            chain.append(str(source))
            topic = self.upstream_topic(topic) or topic
        return chain

    def is_loop_topic(self, topic: str, site: str, sites: Iterable[str]) -> bool:
        """Return True when ``topic`` on ``site`` has travelled back to ``site`` (a loop)."""
        chain = self.source_chain(topic, sites)
        return site in chain or len(set(chain)) != len(chain)


def validate_aliases(sites: Iterable[str], separator: str) -> None:
    """Raise InputError when a site alias contains the separator (MM2 would misroute topics)."""
    bad = sorted(s for s in sites if separator in s)
    if bad:
        raise InputError(
            f"site alias {bad[0]!r} contains the replication separator {separator!r}",
            hint="MirrorMaker 2 splits remote topic names on the separator; rename the site or "
            "set replication.separator to a character no site name contains.",
        )
