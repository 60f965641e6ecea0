"""How each chaos fault is injected on the lab, healed, and checked as recovered.

``inject`` returns the heal action; ``recovered`` is the fault's own recovery check (the run
also waits for an event committed after the heal to reach the endpoint).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from streamdr.chaos.catalog import PlannedFault
from streamdr.chaos.replication import ChaosMm2
from streamdr.drills.pipeline_rig import PipelineRig
from streamdr.errors import StateError, StreamdrError
from streamdr.harness.processes import probe
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.cluster import Lab
from streamdr.lab.links import LabLinks
from streamdr.lab.wan import link_toxics
from streamdr.settings.model import SiteSettings

Heal = Callable[[], None]
WAN_SPIKE = {"latency_ms": 300, "jitter_ms": 50}


@dataclass
class ChaosEnv:
    """What the faults act on: the rig's processes, the lab, its links and the active site."""

    rig: PipelineRig
    lab: Lab
    links: LabLinks
    site: str
    peer: str | None  # the other site, for WAN faults
    mm2: ChaosMm2 | None = None  # the run's MirrorMaker 2 (site -> peer), when it runs one

    def edge_bootstrap(self) -> str:
        """Return the active site's bootstrap through the client proxies."""
        return self.links.bootstrap(self.site, "edge")


def _node(fault: PlannedFault) -> int:
    if fault.target is None:
        raise StateError(f"fault {fault.kind} has no target broker", hint="Plan it again.")
    return fault.target


def _kill_broker(env: ChaosEnv, fault: PlannedFault) -> Heal:
    env.lab.kill_broker(env.site, _node(fault))
    return lambda: env.lab.start_broker(env.site, _node(fault), wait=False) and None


def _kill_child(key: str) -> Callable[[ChaosEnv, PlannedFault], Heal]:
    def inject(env: ChaosEnv, _fault: PlannedFault) -> Heal:
        env.rig.stop(key, signal.SIGKILL, grace=5.0)
        if key == "cdc":
            return lambda: env.rig.start_cdc()
        return lambda: env.rig.start_worker(wait_ready=False)

    return inject


def _stop_postgres(env: ChaosEnv, _fault: PlannedFault) -> Heal:
    env.rig.db.stop()
    return env.rig.db.start_again


def _endpoint_outage(env: ChaosEnv, _fault: PlannedFault) -> Heal:
    endpoint = env.rig.endpoint
    assert endpoint is not None
    endpoint.kill()
    return lambda: endpoint.start() and None


def _partition_broker(env: ChaosEnv, fault: PlannedFault) -> Heal:
    env.links.partition(env.site, _node(fault), "edge")
    return lambda: env.links.heal() and None


def _partition_site(env: ChaosEnv, _fault: PlannedFault) -> Heal:
    env.links.partition(env.site, None, "edge")
    return lambda: env.links.heal() and None


def _wan_latency(env: ChaosEnv, _fault: PlannedFault) -> Heal:
    if env.peer is not None:
        env.links.link(env.site, env.peer, link_toxics(**WAN_SPIKE))
    return lambda: env.links.heal() and None


def _mm2(env: ChaosEnv) -> ChaosMm2:
    if env.mm2 is None:
        raise StateError("this chaos run does not run MirrorMaker 2", hint="Drop --no-mm2.")
    return env.mm2


def _kill_mm2(env: ChaosEnv, _fault: PlannedFault) -> Heal:
    mm2 = _mm2(env)
    mm2.kill()
    # The supervisor restarts the JVM by itself (backoff 1 s after a crash); the kick only
    # cuts a longer backoff short, as `replicate start` does when a site comes back.
    return mm2.runner.kick


INJECT: dict[str, Callable[[ChaosEnv, PlannedFault], Heal]] = {
    "kill-broker": _kill_broker,
    "kill-worker": _kill_child("worker"),
    "kill-cdc": _kill_child("cdc"),
    "stop-postgres": _stop_postgres,
    "endpoint-outage": _endpoint_outage,
    "partition-broker": _partition_broker,
    "partition-site": _partition_site,
    "wan-latency": _wan_latency,
    "kill-mm2": _kill_mm2,
}


def _brokers_answer(env: ChaosEnv, want: int | None = None) -> bool:
    admin = KafkaAdmin(env.site, SiteSettings(bootstrap_servers=env.edge_bootstrap()), timeout=3)
    try:
        ids = {b.node_id for b in admin.metadata(timeout=3).brokers}
    except StreamdrError:
        return False
    return want in ids if want is not None else bool(ids)


def recovered(env: ChaosEnv, fault: PlannedFault) -> bool:
    """Return True when the fault's own recovery check passes (one probe, no waiting)."""
    kind = fault.kind
    if kind in ("kill-broker", "partition-broker"):
        return _brokers_answer(env, fault.target)
    if kind == "partition-site":
        return _brokers_answer(env)
    if kind == "kill-worker":
        port = env.rig.ports.get("worker")
        return port is not None and probe(port)[0] == 200
    if kind == "kill-cdc":
        return env.rig.running("cdc")
    if kind == "endpoint-outage":
        return env.rig.endpoint is not None and _endpoint_answers(env)
    if kind == "wan-latency":
        return not env.links.faults()
    if kind == "kill-mm2":
        return _mm2(env).recovered()
    return True  # stop-postgres: the load's next acknowledged commit is the check


def _endpoint_answers(env: ChaosEnv) -> bool:
    assert env.rig.endpoint is not None
    return env.rig.endpoint.client.alive()
