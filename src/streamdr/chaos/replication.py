"""MirrorMaker 2 in a chaos run: the rig's topic replicated to the other site, and its checks.

The run starts its own MM2 instance (``chaos-<rig id>``, primary → peer, next to the peer) that
reads the active site through the lab's WAN proxies, so WAN faults hit replication as they would
between regions. ``kill-mm2`` SIGKILLs the JVM writing into the peer; the MM2 supervisor
restarts it. Its recovery check: the JVM runs again, records copied since the kill, and the lag
back under MM2_LAG_BOUND_S. At the end of the run every record of the chaos topic up to the last
produced offset must be on the peer (:func:`replication_gaps`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamdr.errors import StateError, StreamdrError
from streamdr.harness.derived_settings import derive
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.links import LabLinks
from streamdr.policy.tiers import Tier
from streamdr.replication.lag.monitor import measure_lag
from streamdr.replication.mm2.runner import Mm2Runner
from streamdr.replication.topology import Topology, explicit_set, plan_topology
from streamdr.runtime import process
from streamdr.settings.model import Settings

MM2_LAG_BOUND_S = 15.0  # seconds behind at which a restarted MM2 counts as caught up
FINAL_TIMEOUT_S = 120.0  # how long the end-of-run check waits for the copy to complete
POLL_S = 2.0

# (start, end) offsets of one partition, keyed by partition number.
Offsets = Mapping[int, tuple[int, int]]


def replication_gaps(source: Offsets, target: Offsets, behind: Mapping[int, int]) -> list[str]:
    """Return what is missing on the target, one line per partition ([] when complete).

    A partition is complete when the offset translation (``behind``: upstream offsets not yet
    replicated, from MM2's offset syncs) says 0 and the target holds at least as many records as
    the source (more is allowed: MM2 copies at least once, so a killed MM2 may copy twice).
    """
    gaps = []
    for part, (start, end) in sorted(source.items()):
        want = end - start
        t_start, t_end = target.get(part, (0, 0))
        have = t_end - t_start
        lag = behind.get(part)
        if lag is None and want > 0:
            gaps.append(f"partition {part}: no offset translation yet ({have} of {want} records)")
        elif lag:
            gaps.append(f"partition {part}: {lag} offsets not replicated")
        elif have < want:
            gaps.append(f"partition {part}: {have} records on the target, {want} on the source")
    return gaps


@dataclass
class ChaosMm2:
    """The run's MM2 instance: who replicates what where, and the state of a kill-mm2 fault."""

    settings: Settings  # the lab's settings: direct listeners, for measuring
    runner: Mm2Runner  # configured with the active site behind its WAN proxies
    topology: Topology
    source: str
    target: str
    topic: str
    copied_at_kill: int = 0

    @property
    def remote_topic(self) -> str:
        """Return the name of the chaos topic's copy on the target."""
        return self.topology.names.remote_topic(self.source, self.topic)

    def start(self) -> None:
        """Start the instance (the supervisor and its JVM); readiness is waited for later.

        Raises StateError when the supervisor does not start.
        """
        self.runner.apply(self.topology)

    def stop(self, *, forget: bool) -> None:
        """Stop the instance; with ``forget`` remove its files (kept for a failed run's logs)."""
        self.runner.stop()
        if forget:
            self.runner.forget()

    def kill(self) -> None:
        """SIGKILL the MM2 JVM writing into the target. Raises StateError if none runs."""
        self.copied_at_kill = self._copied_quietly() or 0
        mark = self.runner.child_marker(self.target)
        pids = [p for p in process.find_marked(mark) if process.is_running(p, mark)]
        if not pids:
            raise StateError(
                f"no MirrorMaker 2 JVM writes into {self.target}",
                hint=f"See {self.runner.dir / 'supervisor.log'}.",
            )
        for pid in pids:
            process.kill(pid, mark)

    def recovered(self) -> bool:
        """Return True when the JVM runs again, copied records since the kill and caught up."""
        if not self.runner.status().target_running(self.target):
            return False
        try:
            if self.copied() <= self.copied_at_kill:
                return False
        except StreamdrError:
            return False
        return self.caught_up(MM2_LAG_BOUND_S)

    def caught_up(self, bound_s: float) -> bool:
        """Return True when every partition of the flow is measured and under ``bound_s``."""
        report = measure_lag(self.settings, self.topology)
        parts = report.partitions
        return (
            all(f.error is None for f in report.flows)
            and bool(parts)
            and all(p.seconds_behind is not None and p.seconds_behind <= bound_s for p in parts)
        )

    def copied(self) -> int:
        """Return how many records the target's copy of the topic holds (0 before it exists)."""
        admin = KafkaAdmin(self.target, self.settings.sites[self.target], timeout=5.0)
        if self.remote_topic not in admin.metadata().topics:
            return 0
        return sum(admin.end_offsets(self.remote_topic).values())

    def gaps(self) -> list[str]:
        """Return :func:`replication_gaps` now; a site that does not answer is one gap."""
        try:
            src = KafkaAdmin(self.source, self.settings.sites[self.source], timeout=5.0)
            dst = KafkaAdmin(self.target, self.settings.sites[self.target], timeout=5.0)
            source = _offsets(src, self.topic)
            target = (
                _offsets(dst, self.remote_topic)
                if self.remote_topic in dst.metadata().topics
                else {}
            )
            report = measure_lag(self.settings, self.topology)
        except StreamdrError as exc:
            return [exc.message]
        errors = [f.error for f in report.flows if f.error]
        behind = {p.partition: p.messages_behind for p in report.partitions}
        return errors + replication_gaps(source, target, behind)

    def final_check(self, timeout: float = FINAL_TIMEOUT_S) -> dict[str, Any]:
        """Wait up to ``timeout`` s for the copy to be complete; return the figures."""
        started = time.monotonic()
        gaps = self.gaps()
        while gaps and time.monotonic() - started < timeout:
            time.sleep(POLL_S)
            gaps = self.gaps()
        return {
            "complete": not gaps,
            "gaps": gaps[:20],
            "waited_s": round(time.monotonic() - started, 1),
            "records_on_target": self._copied_quietly(),
            "restarts": self.runner.status().restarts,
        }

    def _copied_quietly(self) -> int | None:
        try:
            return self.copied()
        except StreamdrError:
            return None


def _offsets(admin: KafkaAdmin, topic: str) -> dict[int, tuple[int, int]]:
    start, end = admin.start_offsets(topic), admin.end_offsets(topic)
    return {p: (start.get(p, 0), e) for p, e in end.items()}


def chaos_mm2(
    settings: Settings, links: LabLinks, site: str, peer: str, topic: str, run_id: str
) -> ChaosMm2:
    """Return the run's MM2 instance replicating ``topic`` from ``site`` to ``peer``.

    Raises InputError for a bad instance name or topology, StateError without WAN proxies.
    """
    topology = plan_topology(
        [explicit_set([topic], [], Tier.STANDARD)],
        list(settings.sites),
        home=site,
        active=site,
        separator=settings.replication.separator,
        emit_interval=lambda _rpo: 1.0,  # lab speed: offset syncs every second
    )
    sites = dict(settings.sites)
    wan = links.bootstrap(site, "wan")
    sites[site] = sites[site].model_copy(update={"bootstrap_servers": wan})
    runner = Mm2Runner(derive(settings, sites=sites), f"chaos-{run_id}")
    return ChaosMm2(settings, runner, topology, site, peer, topic)
