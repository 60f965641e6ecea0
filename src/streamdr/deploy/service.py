"""Gather what a region's Kubernetes objects are made of: workflows, sources, MM2 resources."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from streamdr.deploy.k8s import K8sOptions, WorkflowRef, render_objects
from streamdr.errors import InputError
from streamdr.pipeline.deployed import deployed_workflows
from streamdr.policy.tiers import Tier
from streamdr.replication import service as replication
from streamdr.replication.failover.active_site import PLATFORM_SCOPE, active_site
from streamdr.replication.mm2.config import Mm2Tuning
from streamdr.replication.mm2.runner import lab_settings
from streamdr.replication.mm2.strimzi import (
    DEFAULT_STRIMZI_API,
    resource_target,
    strimzi_resources,
)
from streamdr.runtime.distribution import KAFKA_VERSION
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


def region_sources(settings: Settings, site: str, active: str) -> tuple[str, ...]:
    """Return the CDC sources whose reader runs in ``site`` (their own site, else the active)."""
    return tuple(
        sorted(name for name, src in settings.sources.items() if (src.site or active) == site)
    )


def mm2_resources(
    settings: Settings, store: MetadataStore, site: str, api: str = DEFAULT_STRIMZI_API
) -> list[dict[str, Any]]:
    """Return the ``KafkaMirrorMaker2`` resource (Strimzi API ``api``) that runs next to
    ``site`` (its target), or nothing when nothing is replicated into it.

    Raises UnreachableError when the DB is down, InputError for an unknown API version.
    """
    try:
        sets = replication.choose_sets(settings, store, [], [], Tier.STANDARD)
        topology = replication.build_topology(settings, store, sets, PLATFORM_SCOPE)
    except InputError:
        return []  # nothing deployed, or only backups-only workflows: no MirrorMaker
    tuning = Mm2Tuning.from_settings(settings.replication, lab_settings(settings))
    found = strimzi_resources(
        topology, settings.sites, tuning, kafka_version=KAFKA_VERSION, api=api
    )
    return [r for r in found if resource_target(r) == site]


def render_region(
    settings: Settings,
    store: MetadataStore,
    opts: K8sOptions,
    *,
    mm2: bool = True,
    strimzi_api: str = DEFAULT_STRIMZI_API,
) -> list[dict[str, Any]]:
    """Return every Kubernetes object of ``opts.site``.

    Raises InputError for an unknown site or Strimzi API and UnreachableError when the metadata
    DB is down.
    """
    settings.site(opts.site)
    active = active_site(store, settings, PLATFORM_SCOPE)
    workflows = tuple(WorkflowRef(w.name, w.tier) for w in deployed_workflows(settings, store))
    opts = replace(
        opts,
        workflows=opts.workflows or workflows,
        sources=opts.sources or region_sources(settings, opts.site, active),
    )
    strimzi = mm2_resources(settings, store, opts.site, strimzi_api) if mm2 else []
    return render_objects(opts, strimzi)
