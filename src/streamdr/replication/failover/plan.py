"""Failover and failback as a pure plan: refusals first, then the printable list of steps.

The executor (:mod:`streamdr.replication.failover.execute`) runs these steps in order and
records each with timestamps; every step says how to revert it, so a run that stops midway
tells the operator exactly where the system is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streamdr.errors import InputError, StateError, StreamdrError, UnreachableError
from streamdr.policy.tiers import Tier
from streamdr.replication.naming import validate_aliases
from streamdr.replication.topology import Topology, plan_topology, subscriptions


class SwitchKind(StrEnum):
    """Failover (to a standby) or failback (home again)."""

    FAILOVER = "failover"
    FAILBACK = "failback"


@dataclass(frozen=True)
class SwitchRequest:
    """What the operator asked for."""

    kind: SwitchKind
    target: str
    planned: bool
    scope: str = "platform"
    allow_missing_checkpoints: bool = False


@dataclass(frozen=True)
class GroupFacts:
    """What is known about one consumer group before switching."""

    group: str
    set_name: str
    tier: Tier
    target_members: int | None  # None: the target did not answer
    checkpoints: int  # partitions with a checkpoint on the target (from the source)
    source_partitions: int | None  # partitions committed on the source (None: unknown)


@dataclass(frozen=True)
class SwitchFacts:
    """The live state a plan is computed from (gathered by the executor)."""

    active: str
    source_reachable: bool
    target_reachable: bool
    supervisor_running: bool
    groups: tuple[GroupFacts, ...] = ()
    workload: str = "none"


@dataclass(frozen=True)
class PlanStep:
    """One step: what it does, and how to undo it once it ran."""

    name: str
    action: str
    revert: str

    def as_dict(self) -> dict[str, str]:
        """Return the step as JSON-ready data."""
        return {"name": self.name, "action": self.action, "revert": self.revert}


@dataclass(frozen=True)
class SwitchPlan:
    """The plan for one switch of the active site."""

    request: SwitchRequest
    source: str
    before: Topology
    after: Topology
    steps: tuple[PlanStep, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def target(self) -> str:
        """Return the site becoming active."""
        return self.request.target

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-ready data (enough to resume it)."""
        return {
            "kind": str(self.request.kind),
            "from": self.source,
            "to": self.target,
            "planned": self.request.planned,
            "scope": self.request.scope,
            "allow_missing_checkpoints": self.request.allow_missing_checkpoints,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "steps": [s.as_dict() for s in self.steps],
            "warnings": list(self.warnings),
        }

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> SwitchPlan:
        """Return the plan stored by :meth:`as_dict`."""
        request = SwitchRequest(
            SwitchKind(doc["kind"]),
            doc["to"],
            doc["planned"],
            doc["scope"],
            doc.get("allow_missing_checkpoints", False),
        )
        steps = tuple(PlanStep(s["name"], s["action"], s["revert"]) for s in doc["steps"])
        return SwitchPlan(
            request,
            doc["from"],
            Topology.from_json(doc["before"]),
            Topology.from_json(doc["after"]),
            steps,
            tuple(doc.get("warnings", [])),
        )


def refusals(request: SwitchRequest, facts: SwitchFacts, before: Topology) -> list[StreamdrError]:
    """Return every reason the switch must not start (empty: it may)."""
    out: list[StreamdrError] = []
    try:
        validate_aliases(before.sites, before.separator)
    except InputError as exc:
        out.append(exc)
    if request.target not in before.sites:
        out.append(InputError(f"unknown site {request.target!r}", hint=f"Sites: {before.sites}."))
        return out
    if request.kind is SwitchKind.FAILBACK and request.target != before.home:
        out.append(
            InputError(
                f"failback returns to the home site {before.home!r}, not {request.target!r}",
                hint="Use `streamdr failover --to SITE --planned` to move to another site.",
            )
        )
    if request.target == facts.active:
        out.append(
            StateError(
                f"{request.target!r} is already the active site",
                hint="Nothing to do; `streamdr replicate status` shows the current direction.",
            )
        )
    out += _reachability(request, facts)
    out += _group_refusals(request, facts)
    return out


def _reachability(request: SwitchRequest, facts: SwitchFacts) -> list[StreamdrError]:
    out: list[StreamdrError] = []
    if not facts.target_reachable:
        what = "fail back to" if request.kind is SwitchKind.FAILBACK else "fail over to"
        out.append(
            UnreachableError(
                f"cannot {what} {request.target!r}: the site does not answer",
                hint="Bring the site back (`streamdr lab up` on the lab) and check "
                "`streamdr check --site " + request.target + "`.",
            )
        )
    if request.planned and not facts.source_reachable:
        out.append(
            UnreachableError(
                f"a planned switch must fence the active site {facts.active!r}, "
                "which does not answer",
                hint=f"If {facts.active!r} is lost, run an unplanned failover "
                f"(`streamdr failover --to {request.target}` without --planned).",
            )
        )
    if not request.planned and facts.source_reachable:
        out.append(
            StateError(
                f"the active site {facts.active!r} still answers; an unplanned failover would "
                "leave it running beside the new one",
                hint=f"Use `streamdr failover --to {request.target} --planned` to fence it first.",
            )
        )
    if request.planned and not facts.supervisor_running:
        out.append(
            StateError(
                "MirrorMaker 2 is not running, so the target cannot catch up before the switch",
                hint="Start it with `streamdr replicate start`, wait for `replicate status` to "
                "show lag 0, then retry.",
            )
        )
    return out


def _group_refusals(request: SwitchRequest, facts: SwitchFacts) -> list[StreamdrError]:
    out: list[StreamdrError] = []
    for g in facts.groups:
        if g.tier is Tier.STANDARD and g.target_members:
            out.append(
                StateError(
                    f"consumer group {g.group!r} has {g.target_members} active members on "
                    f"{request.target!r}; its offsets cannot be set while it consumes",
                    hint="Stop the consumers of that group on the target site, then retry.",
                )
            )
        missing = (
            g.checkpoints == 0
            and (g.source_partitions is None or g.source_partitions > 0)
            and not request.planned
        )
        if g.tier is not Tier.NON_CRITICAL and missing and not request.allow_missing_checkpoints:
            out.append(
                StateError(
                    f"no MM2 checkpoint for group {g.group!r} on {request.target!r}: its "
                    "offsets were never translated",
                    hint="Wait one emit interval after the group's first commit (see `streamdr "
                    "offsets translate`), or pass --allow-missing-checkpoints to start that "
                    "group from the earliest replicated offset (redeliveries, no loss).",
                )
            )
    return out


def plan_switch(request: SwitchRequest, facts: SwitchFacts, before: Topology) -> SwitchPlan:
    """Return the plan; raises the first refusal (with the count of others) when it may not run."""
    problems = refusals(request, facts, before)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise type(first)(first.message + more, hint=first.hint)
    source, target = facts.active, request.target
    after = plan_topology(
        before.sets,
        before.sites,
        home=before.home,
        active=target,
        separator=before.separator,
        emit_interval=lambda rpo, b=before: _interval_of(b, rpo),
    )
    steps = (
        _planned_steps(source, target, before, after, request)
        if request.planned
        else (_unplanned_steps(source, target, after, request))
    )
    warnings = []
    if facts.workload == "none":
        warnings.append(
            "no workload control configured (replication.workload): workers and CDC are not "
            "stopped or started by this run"
        )
    return SwitchPlan(request, source, before, after, tuple(steps), tuple(warnings))


def _interval_of(before: Topology, rpo: float) -> float:
    known = [f.emit_interval_seconds for f in before.flows]
    return min(known) if known else max(1.0, min(60.0, rpo / 10.0))


def _critical(topology: Topology) -> bool:
    return any(s.tier is Tier.CRITICAL for s in topology.sets)


def _flows(topology: Topology) -> str:
    return ", ".join(f.name for f in topology.flows) or "none"


def _subs(topology: Topology, site: str) -> str:
    subs = subscriptions(topology, site)
    return "; ".join(f"{g}: {', '.join(t)}" for g, t in subs.items()) or "nothing"


def _unplanned_steps(
    source: str, target: str, after: Topology, request: SwitchRequest
) -> list[PlanStep]:
    also = (
        f" and against {target} (critical groups are re-committed there)"
        if _critical(after)
        else ""
    )
    return [
        PlanStep(
            "confirm-source-down",
            f"confirm {source} does not answer a metadata request",
            "nothing changed",
        ),
        PlanStep(
            "stop-workers",
            f"stop workers and CDC against {source} (best effort: the site is down){also}",
            f"start them again against {source} if the failover is abandoned",
        ),
        PlanStep(
            "commit-offsets",
            f"commit each group's offsets on {target} from the last MM2 checkpoint per partition "
            f"({source}{after.separator}checkpoints{after.separator}internal)",
            f"harmless while {target} is not active; a later failback re-translates them",
        ),
        _switch_step(source, target, request),
        PlanStep(
            "start-workers",
            f"start workers and CDC against {target}: {_subs(after, target)}",
            f"stop them with the workload stop command for {target}",
        ),
        _reconfigure_step(after),
        PlanStep(
            "validate",
            f"check remote topics and committed groups on {target}; lag before the failure "
            "within each tier's RPO",
            "nothing changed",
        ),
        _notify_step(source, target),
    ]


def _planned_steps(
    source: str, target: str, before: Topology, after: Topology, request: SwitchRequest
) -> list[PlanStep]:
    also = f" and against {target}" if _critical(after) else ""
    return [
        PlanStep(
            "ensure-replication",
            f"run MM2 for every current flow ({_flows(before)}), restart a JVM that started "
            f"before its target answered, and wait until the flows into {target} are caught up",
            "nothing to revert (replication only)",
        ),
        PlanStep(
            "fence-source",
            f"stop workers and CDC against {source}{also} and wait until fenced",
            f"start them again against {source} (`streamdr failover` did not switch yet)",
        ),
        PlanStep(
            "wait-caught-up",
            f"wait until every replicated partition into {target} has lag 0",
            f"start workers again against {source}",
        ),
        PlanStep(
            "commit-offsets",
            f"translate each group's final offsets on {source} with offset syncs (forward for "
            f"its topics, reverse for {target}'s copies) and commit them on {target}",
            f"harmless while {target} is not active",
        ),
        _switch_step(source, target, request),
        PlanStep(
            "start-workers",
            f"start workers and CDC against {target}: {_subs(after, target)}"
            + (f"; against {source}: {_subs(after, source)}" if _critical(after) else ""),
            f"stop them with the workload stop command for {target}",
        ),
        _reconfigure_step(after),
        PlanStep(
            "validate",
            f"check remote topics and committed groups on {target}, lag 0 at the switch, and no "
            "replication loop (no topic carrying its own site's prefix)",
            "nothing changed",
        ),
        _notify_step(source, target),
    ]


def _switch_step(source: str, target: str, request: SwitchRequest) -> PlanStep:
    return PlanStep(
        "switch-active",
        f"record {target} as the active site ({request.scope}) in the metadata DB and run the "
        "switch hook",
        f"`streamdr failover --to {source} --planned` once {source} answers",
    )


def _reconfigure_step(after: Topology) -> PlanStep:
    return PlanStep(
        "reconfigure-replication",
        f"reconfigure MM2 for active site {after.active}: {_flows(after)}",
        "`streamdr replicate start` re-applies the topology of the active site",
    )


def _notify_step(source: str, target: str) -> PlanStep:
    return PlanStep(
        "notify",
        f"POST {{event, from: {source}, to: {target}}} to replication.notify_webhook",
        "send a correction to clients",
    )
