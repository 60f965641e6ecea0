"""Running `check`: snapshot and judge each site, then the platform items (drills, replication…)."""

from __future__ import annotations

from datetime import datetime

from streamdr.checks.config import (
    evaluate_artifacts,
    evaluate_config,
    gather_artifacts,
    gather_config,
)
from streamdr.checks.inspect import snapshot_site
from streamdr.checks.replication import evaluate_replication, gather_replication
from streamdr.checks.site import (
    CheckResult,
    SiteSnapshot,
    check_drill_recency,
    evaluate_site,
    overall_exit_code,
)
from streamdr.clock import utcnow
from streamdr.drills.history import last_passed
from streamdr.errors import StreamdrError
from streamdr.policy.quorum import QuorumStatus
from streamdr.policy.topic_policy import TopicPolicy
from streamdr.runtime.distribution import KafkaRuntime, ensure_runtime
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore


def _runtime() -> tuple[KafkaRuntime | None, str | None]:
    try:
        return ensure_runtime(), None
    except StreamdrError as exc:
        return None, exc.message


def run_checks(
    settings: Settings,
    store: MetadataStore,
    *,
    site: str | None = None,
    skip: set[str] | None = None,
    policy: TopicPolicy | None = None,
    now: datetime | None = None,
) -> tuple[list[CheckResult], int]:
    """Return every check result for ``site`` (default all sites) and the exit code.

    With ``site``, only that site's own items are judged: platform items (drill recency,
    replication, config, artifacts) would otherwise block a failback to a healthy site because
    a monthly drill is overdue. Raises InputError for an unknown site.
    """
    names = [settings.site(site)[0]] if site else list(settings.sites)
    results = _site_results(settings, names, policy or TopicPolicy())
    if site is None:
        results += _platform_results(settings, store, now or utcnow())
    results = [r for r in results if r.id not in (skip or set())]
    return results, overall_exit_code(results)


def _site_results(settings: Settings, names: list[str], policy: TopicPolicy) -> list[CheckResult]:
    runtime, runtime_error = _runtime()
    results: list[CheckResult] = []
    for name in names:
        snap = snapshot_site(name, settings.sites[name], runtime)
        if runtime is None and snap.reachable:
            snap = SiteSnapshot(
                snap.site,
                snap.error,
                snap.metadata,
                snap.topic_configs,
                snap.broker_configs,
                QuorumStatus(error=runtime_error),
            )
        results += evaluate_site(snap, policy)
    return results


def _platform_results(settings: Settings, store: MetadataStore, now: datetime) -> list[CheckResult]:
    results = [check_drill_recency(last_passed(store, "broker-failover"), now)]
    results += evaluate_replication(gather_replication(settings, store))
    config = gather_config(settings, store)
    if config is not None:
        results += evaluate_config(config, now)
    artifacts = gather_artifacts(settings)
    if artifacts is not None:
        results.append(evaluate_artifacts(artifacts))
    return results
