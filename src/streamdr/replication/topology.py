"""Which topics and groups flow between which sites, derived purely from workflow tiers.

Tier rules (the strategy's Option 4):

- ``critical``: every site replicates to every other (active-active). DefaultReplicationPolicy
  names remote topics ``<site><sep><topic>``, so a topic never flows back to where it came from.
- ``standard``: the active site replicates to the others (active-passive). While another site is
  active (after a failover) the home site also keeps replicating to it, so that when the home
  site returns, the records it acknowledged but had not replicated yet still reach the active
  site, and the active site replicates back to the home site to prepare the failback.
- ``non-critical``: not replicated (backups only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

from streamdr.errors import InputError
from streamdr.policy.tiers import TIER_TARGETS, Tier
from streamdr.replication.naming import ReplicationNames, validate_aliases
from streamdr.settings.model import Settings
from streamdr.workflows.model import Workflow

WorkflowSource = Callable[[], list[Workflow]]


@dataclass(frozen=True)
class ReplicatedSet:
    """The topics and consumer groups of one workflow (or of an explicit ``--topics`` set)."""

    name: str
    tier: Tier
    topics: tuple[str, ...]
    groups: tuple[str, ...]
    rpo_seconds: float

    def as_dict(self) -> dict[str, object]:
        """Return the set as JSON-ready data."""
        return {**asdict(self), "tier": str(self.tier)}


@dataclass(frozen=True)
class Flow:
    """One replication direction and what it carries."""

    source: str
    target: str
    topics: tuple[str, ...]
    groups: tuple[str, ...]
    sets: tuple[str, ...]
    emit_interval_seconds: float

    @property
    def name(self) -> str:
        """Return ``source->target`` as MM2 writes it."""
        return f"{self.source}->{self.target}"


@dataclass(frozen=True)
class Topology:
    """Everything MM2 must do for a given active site; serialisable to JSON."""

    sites: tuple[str, ...]
    home: str
    active: str
    separator: str
    sets: tuple[ReplicatedSet, ...]
    flows: tuple[Flow, ...] = field(default=())

    @property
    def names(self) -> ReplicationNames:
        """Return the naming rules."""
        return ReplicationNames(self.separator)

    def flow(self, source: str, target: str) -> Flow | None:
        """Return the flow ``source->target``, or None."""
        return next((f for f in self.flows if (f.source, f.target) == (source, target)), None)

    def flows_into(self, target: str) -> list[Flow]:
        """Return the flows whose target is ``target``."""
        return [f for f in self.flows if f.target == target]

    def set_of_group(self, group: str) -> ReplicatedSet | None:
        """Return the set a consumer group belongs to."""
        return next((s for s in self.sets if group in s.groups), None)

    def to_json(self) -> str:
        """Return the topology as JSON text."""
        doc = asdict(self)
        for s in doc["sets"]:
            s["tier"] = str(s["tier"])
        return json.dumps(doc, indent=2, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Topology:
        """Return a topology from :meth:`to_json` output; raises ValueError/KeyError."""
        raw = json.loads(text)
        sets = tuple(
            ReplicatedSet(
                s["name"], Tier(s["tier"]), tuple(s["topics"]), tuple(s["groups"]), s["rpo_seconds"]
            )
            for s in raw["sets"]
        )
        flows = tuple(
            Flow(
                f["source"],
                f["target"],
                tuple(f["topics"]),
                tuple(f["groups"]),
                tuple(f["sets"]),
                f["emit_interval_seconds"],
            )
            for f in raw["flows"]
        )
        return Topology(
            tuple(raw["sites"]), raw["home"], raw["active"], raw["separator"], sets, flows
        )


def workflow_topics(workflow: Workflow, settings: Settings) -> tuple[str, ...]:
    """Return the Kafka topics a workflow reads (its topic, or its CDC tables' topics).

    Raises InputError when the workflow names a source database missing from the settings.
    """
    if workflow.source.topic:
        return (workflow.source.topic,)
    db = workflow.source.database or ""
    if db not in settings.sources:
        raise InputError(
            f"workflow {workflow.name!r} reads source database {db!r}, which streamdr.yaml "
            "does not define",
            hint=f"Add sources.{db} to streamdr.yaml or fix the workflow's source.database.",
        )
    prefix = settings.sources[db].topic_prefix
    return tuple(f"{prefix}.{table}" for table in workflow.source.tables)


def sets_from_workflows(workflows: Iterable[Workflow], settings: Settings) -> list[ReplicatedSet]:
    """Return one replicated set per workflow (non-critical ones included, flows skip them)."""
    return [
        ReplicatedSet(
            w.name,
            w.tier,
            workflow_topics(w, settings),
            (w.consumer_group,),
            w.effective_rpo.total_seconds(),
        )
        for w in workflows
    ]


def explicit_set(topics: Sequence[str], groups: Sequence[str], tier: Tier) -> ReplicatedSet:
    """Return a set for ``replicate start --topics … --groups …``."""
    return ReplicatedSet(
        "explicit", tier, tuple(topics), tuple(groups), TIER_TARGETS[tier].rpo.total_seconds()
    )


def default_emit_interval(rpo_seconds: float, lab: bool) -> float:
    """Return how often checkpoints and offset syncs are emitted for a tier's RPO.

    A tenth of the RPO (between 1 and 60 s) leaves room for the checkpoint to be replicated and
    for a failover to read it; the lab uses 1 s so drills measure RPO in seconds.
    """
    return 1.0 if lab else max(1.0, min(60.0, rpo_seconds / 10.0))


def _pairs(tier: Tier, sites: Sequence[str], home: str, active: str) -> list[tuple[str, str]]:
    if tier is Tier.CRITICAL:
        return [(a, b) for a in sites for b in sites if a != b]
    if tier is Tier.STANDARD:
        pairs = [(active, b) for b in sites if b != active]
        if active != home:
            pairs.append((home, active))
        return pairs
    return []


def plan_topology(
    sets: Sequence[ReplicatedSet],
    sites: Sequence[str],
    *,
    home: str,
    active: str,
    separator: str,
    emit_interval: Callable[[float], float],
) -> Topology:
    """Return the flows for ``sets`` with ``active`` serving; raises InputError on bad input."""
    validate_aliases(sites, separator)
    for name, what in ((home, "home site"), (active, "active site")):
        if name not in sites:
            raise InputError(f"{what} {name!r} is not one of the sites {list(sites)}")
    merged: dict[tuple[str, str], list[ReplicatedSet]] = {}
    for s in sets:
        for pair in _pairs(s.tier, sites, home, active):
            merged.setdefault(pair, []).append(s)
    flows = tuple(
        Flow(
            src,
            dst,
            tuple(sorted({t for s in members for t in s.topics})),
            tuple(sorted({g for s in members for g in s.groups})),
            tuple(s.name for s in members),
            emit_interval(min(s.rpo_seconds for s in members)),
        )
        for (src, dst), members in sorted(merged.items())
    )
    return Topology(tuple(sites), home, active, separator, tuple(sets), flows)


def topology_for(settings: Settings, sets: Sequence[ReplicatedSet], active: str) -> Topology:
    """Return the topology of ``sets`` under ``settings`` with ``active`` serving."""
    rep = settings.replication
    sites = list(settings.sites)
    lab = all(s.lab for s in settings.sites.values())

    def interval(rpo: float) -> float:
        return rep.emit_interval_seconds or default_emit_interval(rpo, lab)

    return plan_topology(
        sets,
        sites,
        home=rep.home_site or sites[0],
        active=active,
        separator=rep.separator,
        emit_interval=interval,
    )


def subscriptions(topology: Topology, site: str) -> dict[str, list[str]]:
    """Return group → candidate topics that workers on ``site`` consume under ``topology``.

    Standard sets are served by the active site only: its local topics plus the remote copies
    from every other site (after a failback the old active site's copy still holds records its
    fenced workers had not processed). Critical sets are served by every site from its local
    topics; the active site also serves the home site's remote copy while it stands in for it.
    Non-critical sets are not replicated: the active site reads its local topics. Remote topics
    that do not exist yet are candidates too; callers keep those present on the site.
    """
    names = topology.names
    out: dict[str, list[str]] = {}
    for s in topology.sets:
        sources = _served_sources(topology, s, site)
        if sources is None:
            continue
        topics = list(s.topics) + [names.remote_topic(src, t) for src in sources for t in s.topics]
        for group in s.groups:
            have = out.setdefault(group, [])
            have += [t for t in topics if t not in have]
    return out


def existing_only(subs: dict[str, list[str]], existing: set[str]) -> dict[str, list[str]]:
    """Return ``subs`` keeping only the topics in ``existing`` (a site's topic names)."""
    return {g: [t for t in topics if t in existing] for g, topics in subs.items()}


def _served_sources(topology: Topology, s: ReplicatedSet, site: str) -> list[str] | None:
    """Return the sites whose remote copies ``site`` serves for ``s`` (None: not served)."""
    if s.tier is Tier.CRITICAL:
        took_over = topology.active == site and topology.home != site
        return [topology.home] if took_over else []
    if site != topology.active:
        return None
    if s.tier is Tier.NON_CRITICAL:
        return []
    return [other for other in topology.sites if other != site]
