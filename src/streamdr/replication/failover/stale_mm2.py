"""Restarting an MM2 JVM that started while the site it writes into was dead.

A failover reconfigures MM2 while the lost site is down, so a JVM writing into that site starts
then. It spends minutes in ``lookupKafkaClusterId`` against the dead cluster and then exits; all
that time the supervisor reports it running. When the site is back, a switch must not wait on
such a JVM: :func:`restart_stale_jvms` restarts it through the supervisor.

The evidence that a JVM works is the heartbeat its herders write into the target's
``heartbeats`` topic (``emit.heartbeats`` is on for every flow): a record there stamped after the
JVM started proves it reached the target and runs its connectors. It is what ``replicate start``
waits for too; log lines ("Herder started") depend on the log format and say nothing about the
target, and dedicated MM2 runs no REST API here. When the target came back is read from the
supervisor's lag samples: the last time a flow into it could not be measured.

Limit: heartbeat records name only the two sites, not the MM2 instance, so another instance
replicating the same pair into the same site (a drill's own beside the default one) can hide a
stale JVM of this one; the near-live wait then times out as it did before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from streamdr.errors import StreamdrError
from streamdr.replication.failover.context import SwitchContext
from streamdr.replication.lag.sampler import read_samples
from streamdr.replication.mm2.internal_topics import read_heartbeats
from streamdr.replication.naming import HEARTBEATS_TOPIC
from streamdr.replication.topology import Topology

HEARTBEAT_TAIL = 50
# How long a JVM that started before its target answered gets, from the moment the target
# answers, to heartbeat into it before it counts as doomed. One that was still looking the
# cluster up when the target came back gets through: on the lab it reached "Herder started"
# ~30 s after its target returned (a site-failover drill restarted such a JVM 0.1 s after its
# herder started, and the failback waited for a new JVM 80 s longer).
HEARTBEAT_GRACE_S = 90.0
DECIDE_POLL_S = 2.0


@dataclass(frozen=True)
class RestartDecision:
    """Whether to restart the JVM writing into ``target``, and why; ``pending`` while it still
    has time to heartbeat."""

    target: str
    restart: bool
    reason: str
    pending: bool = False


def decide_restart(
    target: str,
    started_at: float | None,
    reachable_since: float,
    last_heartbeat_at: float | None,
    now: float,
    grace: float = HEARTBEAT_GRACE_S,
) -> RestartDecision:
    """Return the decision for one JVM (times in epoch seconds of this host).

    ``started_at`` is None when the JVM does not run (the supervisor starts it by itself);
    ``reachable_since`` is the earliest time the target is known to answer without a break;
    ``last_heartbeat_at`` is the newest heartbeat written into the target, None if none. A JVM
    that started before the target answered is restarted only once ``grace`` seconds have
    passed since without a heartbeat; until then the decision is ``pending``.
    """
    if started_at is None:
        return RestartDecision(target, False, "not running; the supervisor starts it")
    if last_heartbeat_at is not None and last_heartbeat_at >= started_at:
        ago = max(0.0, now - last_heartbeat_at)
        return RestartDecision(target, False, f"heartbeat into {target} {ago:.0f}s ago")
    if started_at >= reachable_since:
        age = max(0.0, now - started_at)
        return RestartDecision(
            target, False, f"started {age:.0f}s ago, after {target} answered; still starting"
        )
    before = reachable_since - started_at
    back_for = max(0.0, now - reachable_since)
    if back_for < grace:
        return RestartDecision(
            target,
            False,
            f"started {before:.0f}s before {target} answered; {back_for:.0f}s of {grace:.0f}s "
            "to heartbeat",
            pending=True,
        )
    return RestartDecision(
        target,
        True,
        f"started {before:.0f}s before {target} answered and no heartbeat into it since",
    )


def reachable_since(
    samples: dict[str, Any], topology: Topology, target: str, fallback: float
) -> float:
    """Return when ``target`` is known to answer since: the last failed lag sample of a flow
    into it, or ``fallback`` (the start of the step) when no sample failed.

    ``samples`` is ``lag.json`` as read (hostile: any field may be missing or of a wrong type).
    """
    flows = samples.get("flows") if isinstance(samples, dict) else None
    if not isinstance(flows, dict):
        return fallback
    failed = []
    for flow in topology.flows_into(target):
        entry = flows.get(flow.name)
        at = entry.get("error_at") if isinstance(entry, dict) else None
        if isinstance(at, int | float) and not isinstance(at, bool):
            failed.append(float(at))
    return max(failed, default=fallback)


def newest_heartbeat(ctx: SwitchContext, topology: Topology, target: str) -> float | None:
    """Return the newest heartbeat (epoch s) a flow into ``target`` wrote there, None if none.

    Raises StreamdrError (UnreachableError) when the target does not answer.
    """
    sources = {f.source for f in topology.flows_into(target)}
    beats = read_heartbeats(
        target, ctx.settings.sites[target], HEARTBEATS_TOPIC, tail=HEARTBEAT_TAIL
    ).records
    newest = max(
        (b.timestamp_ms for b in beats if b.target == target and b.source in sources),
        default=None,
    )
    return None if newest is None else newest / 1000.0


def stale_decisions(
    ctx: SwitchContext, topology: Topology, step_started: float
) -> list[RestartDecision]:
    """Return a decision for each JVM writing into a site that has flows into it and answers."""
    samples = read_samples(ctx.runner.dir)
    out = []
    for child in ctx.runner.status().children:
        target = str(child.get("target"))
        if target not in ctx.settings.sites or not topology.flows_into(target):
            continue
        try:
            heartbeat = newest_heartbeat(ctx, topology, target)
        except StreamdrError:
            continue  # the target does not answer: nothing to restart into yet
        started = child.get("started_at") if child.get("running") else None
        since = reachable_since(samples, topology, target, step_started)
        out.append(decide_restart(target, started, since, heartbeat, time.time()))
    return out


def restart_stale_jvms(ctx: SwitchContext, topology: Topology, step_started: float) -> str:
    """Restart every JVM that started before its target answered and has not heartbeated in
    the grace since (waiting out the grace first while one may still get through).

    Returns a detail ("" when nothing was restarted); raises StateError when the supervisor
    does not confirm the restart.
    """
    deadline = time.monotonic() + HEARTBEAT_GRACE_S + 10.0
    decisions = stale_decisions(ctx, topology, step_started)
    while any(d.pending for d in decisions) and time.monotonic() < deadline:
        time.sleep(DECIDE_POLL_S)  # a JVM that got through heartbeats within the grace
        decisions = stale_decisions(ctx, topology, step_started)
    stale = [d for d in decisions if d.restart]
    if not stale:
        return ""
    ctx.runner.restart([d.target for d in stale])
    return "; ".join(f"restarted MM2 into {d.target} ({d.reason})" for d in stale)
