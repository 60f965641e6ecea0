"""Which replicated topics a site's workers consume besides their workflows' own topics.

After a failover the surviving site holds two kinds of change topics for a workflow: its local
ones (new changes, once CDC writes there) and MirrorMaker 2's copies of the failed site's
(``primary_<topic>``: what was replicated before the loss, not yet processed). Workers that only
read the local topics would silently skip the copies, so ``streamdr run`` adds them: the ones
the replication topology says the site serves (``replication.topology.subscriptions``), or the
explicit group → topics map the failover passes to the workload command (``--subscriptions``).
Copies are consumed, never created: a copy that does not exist on the site is left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from streamdr.errors import InputError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.replication.failover.active_site import PLATFORM_SCOPE, active_site
from streamdr.replication.topology import sets_from_workflows, subscriptions, topology_for
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.model import Workflow

if TYPE_CHECKING:
    from streamdr.pipeline.runner import WorkflowPlan


def parse_subscriptions(text: str) -> dict[str, list[str]]:
    """Return the group → topics map of ``--subscriptions``; raises InputError when malformed."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--subscriptions is not JSON: {exc.msg} at character {exc.pos}",
            hint='Pass a JSON object of group → topics, e.g. {"orders-to-client-a": ["orders"]}.',
        ) from exc
    ok = isinstance(doc, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(t, str) for t in v)
        for k, v in doc.items()
    )
    if not ok:
        raise InputError(
            "--subscriptions must map each consumer group to a list of topic names",
            hint='Example: {"orders-to-client-a": ["orders", "primary_orders"]}.',
        )
    return {str(k): [str(t) for t in v] for k, v in doc.items()}


def topology_subscriptions(
    settings: Settings, store: MetadataStore, workflows: Iterable[Workflow], site: str
) -> dict[str, list[str]]:
    """Return group → topics that workers on ``site`` serve under the replication topology."""
    workflows = list(workflows)
    if len(settings.sites) < 2 or not workflows:
        return {}
    sets = sets_from_workflows(workflows, settings)
    topology = topology_for(settings, sets, active_site(store, settings, PLATFORM_SCOPE))
    return subscriptions(topology, site)


def with_replicated(
    plans: list[WorkflowPlan], wanted: Mapping[str, list[str]], existing: set[str]
) -> list[WorkflowPlan]:
    """Return ``plans`` with each workflow's extra topics from ``wanted`` that exist on the site.

    A workflow's own topics are never repeated; topics missing from ``existing`` are skipped
    (a copy MirrorMaker 2 has not created is nothing to read yet).
    """
    out = []
    for plan in plans:
        extra = [
            t
            for t in wanted.get(plan.workflow.consumer_group, [])
            if t not in plan.topics and t in existing
        ]
        out.append(replace(plan, replicated=extra) if extra else plan)
    return out


def add_replicated_topics(
    settings: Settings,
    store: MetadataStore,
    plans: list[WorkflowPlan],
    site: str | None,
    explicit: dict[str, list[str]] | None = None,
) -> list[WorkflowPlan]:
    """Return ``plans`` extended with the replicated copies workers on ``site`` must read.

    ``explicit`` (from ``--subscriptions``) wins over the topology. Raises UnreachableError when
    the site does not answer.
    """
    name, cfg = settings.site(site)
    wanted = (
        explicit
        if explicit is not None
        else topology_subscriptions(settings, store, (p.workflow for p in plans), name)
    )
    if not any(wanted.values()):
        return plans
    existing = set(KafkaAdmin(name, cfg).metadata().topics)
    return with_replicated(plans, wanted, existing)
