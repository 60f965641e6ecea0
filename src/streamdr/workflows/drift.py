"""Three-way drift: the deployed commit, the repository's HEAD, and what is live on each site.

- deployed vs HEAD: how the branch relates to the deployed commit (in sync, ahead with undeployed
  commits, behind or diverged after lost commits) and which workflow files differ.
- deployed vs live: the topics the deployed workflows need (sources, DLQs, Kafka sinks) must
  exist on each site with the configuration the declarations and the HA policy require; the
  plan is the same one `topics ensure` executes, so ``--reconcile`` applies exactly it.

Which sites: every workflow's topics on the active site; a critical (active-active) workflow's
topics on every site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streamdr.errors import StreamdrError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.policy.tiers import Tier
from streamdr.policy.topic_policy import ActionKind, TopicAction, TopicPolicy, plan_topics
from streamdr.policy.topics_service import apply_topic_plan
from streamdr.settings.model import Settings, TopicDeclaration
from streamdr.store.db import MetadataStore
from streamdr.workflows.context import open_repo
from streamdr.workflows.deployments import current_deployment, deployed_workflows
from streamdr.workflows.diff import FileChange, diff_files
from streamdr.workflows.documents import is_workflow_path
from streamdr.workflows.model import Workflow
from streamdr.workflows.repo import WORKFLOWS_DIR


class Relation(StrEnum):
    """How the branch head relates to the deployed commit."""

    IN_SYNC = "in-sync"
    AHEAD = "ahead"
    BEHIND = "behind"
    DIVERGED = "diverged"
    NOT_DEPLOYED = "not-deployed"
    BRANCH_MISSING = "branch-missing"
    REPOSITORY_MISSING = "repository-missing"
    DEPLOYED_COMMIT_MISSING = "deployed-commit-missing"


# Relations that mean commits were lost: `config recover` is the remedy.
LOST = {
    Relation.BEHIND,
    Relation.DIVERGED,
    Relation.BRANCH_MISSING,
    Relation.REPOSITORY_MISSING,
    Relation.DEPLOYED_COMMIT_MISSING,
}


def branch_relation(
    deployed: str | None,
    head: str | None,
    present: Callable[[str], bool],
    is_ancestor: Callable[[str, str], bool],
) -> Relation:
    """Return how ``head`` relates to the ``deployed`` commit."""
    if deployed is None:
        return Relation.NOT_DEPLOYED
    if head is None:
        return Relation.BRANCH_MISSING
    if deployed == head:
        return Relation.IN_SYNC
    if not present(deployed):
        return Relation.DEPLOYED_COMMIT_MISSING
    if is_ancestor(deployed, head):
        return Relation.AHEAD
    if is_ancestor(head, deployed):
        return Relation.BEHIND
    return Relation.DIVERGED


def workflow_topics(wf: Workflow, settings: Settings) -> list[str]:
    """Return the topics ``wf`` reads from or writes to (sources, DLQ, Kafka sink)."""
    topics = []
    if wf.source.topic:
        topics.append(wf.source.topic)
    elif wf.source.database in settings.sources:
        prefix = settings.sources[wf.source.database].topic_prefix
        topics += [f"{prefix}.{table}" for table in wf.source.tables]
    if wf.dlq.enabled:
        topics.append(wf.dlq_topic)
    if wf.sink.kind == "kafka" and wf.sink.topic:
        topics.append(wf.sink.topic)
    return topics


def desired_topics(
    workflows: Iterable[Workflow], settings: Settings
) -> dict[str, list[TopicDeclaration]]:
    """Return ``{site: declarations}`` the deployed workflows need (settings' declarations win)."""
    declared = {d.name: d for d in settings.topics}
    wanted: dict[str, dict[str, TopicDeclaration]] = {s: {} for s in settings.sites}
    for wf in workflows:
        sites = list(settings.sites) if wf.tier == Tier.CRITICAL else [settings.primary_site]
        for topic in workflow_topics(wf, settings):
            decl = declared.get(topic) or TopicDeclaration(name=topic)
            for site in sites:
                if decl.sites is None or site in decl.sites:
                    wanted[site][topic] = decl
    return {s: sorted(d.values(), key=lambda d: d.name) for s, d in wanted.items() if d}


@dataclass
class DriftReport:
    """Everything that differs between deployed, HEAD and live."""

    deployed_commit: str | None
    head: str | None
    relation: Relation
    ahead_by: int = 0
    repo_changes: list[FileChange] = field(default_factory=list)
    desired: dict[str, list[str]] = field(default_factory=dict)
    live: list[TopicAction] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    applied: list[TopicAction] = field(default_factory=list)

    @property
    def remaining_live(self) -> list[TopicAction]:
        """Return live differences not applied by a reconcile."""
        return [a for a in self.live if a not in self.applied]

    @property
    def has_drift(self) -> bool:
        """Return True when anything differs (after a reconcile: anything still differs)."""
        return bool(self.repo_changes or self.remaining_live or self.relation in LOST)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready mapping."""
        return {
            "drift": self.has_drift,
            "deployed_commit": self.deployed_commit,
            "head": self.head,
            "relation": str(self.relation),
            "ahead_by": self.ahead_by,
            "repo_changes": [c.as_dict() for c in self.repo_changes],
            "desired_topics": self.desired,
            "live": [a.as_dict() for a in self.live],
            "applied": [a.as_dict() for a in self.applied],
            "manual": [a.as_dict() for a in self.live if a.kind is ActionKind.MANUAL],
            "unreachable": self.unreachable,
        }


def live_drift(
    settings: Settings, desired: dict[str, list[TopicDeclaration]], policy: TopicPolicy
) -> tuple[list[TopicAction], dict[str, str]]:
    """Return the actions making each site match ``desired``, and the sites that did not answer."""
    actions: list[TopicAction] = []
    unreachable: dict[str, str] = {}
    for site, decls in desired.items():
        admin = KafkaAdmin(site, settings.sites[site])
        try:
            live = admin.metadata().topics
            configs = admin.topic_configs(d.name for d in decls if d.name in live)
        except StreamdrError as exc:
            unreachable[site] = exc.message
            continue
        actions += plan_topics(site, decls, live, configs, policy)
    return actions, unreachable


def gather_drift(
    settings: Settings, store: MetadataStore, *, policy: TopicPolicy | None = None
) -> DriftReport:
    """Return the three-way drift of the deployed configuration (reads the repo and each site)."""
    deployment = current_deployment(settings, store)
    deployed = deployment.commit if deployment else None
    repo = open_repo(settings, require=False)
    try:
        repo.require()
    except StreamdrError:
        report = DriftReport(deployed, None, Relation.REPOSITORY_MISSING)
    else:
        head = repo.head()
        report = DriftReport(
            deployed, head, branch_relation(deployed, head, repo.has_commit, repo.is_ancestor)
        )
        if report.relation is Relation.AHEAD and deployed and head:
            report.ahead_by = repo.count_commits(deployed, head)
        if head is not None:
            files = {
                p: b for p, b in repo.read_files(head, WORKFLOWS_DIR).items() if is_workflow_path(p)
            }
            report.repo_changes = diff_files(dict(deployment.files) if deployment else {}, files)
    desired = desired_topics(deployed_workflows(settings, store), settings)
    report.desired = {s: [d.name for d in decls] for s, decls in desired.items()}
    report.live, report.unreachable = live_drift(settings, desired, policy or TopicPolicy())
    return report


def reconcile(settings: Settings, report: DriftReport) -> list[TopicAction]:
    """Apply the live differences of ``report`` (not the manual ones); return those applied."""
    report.applied = apply_topic_plan(settings, report.live)
    return report.applied
