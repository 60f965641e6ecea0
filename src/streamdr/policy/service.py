"""Running `check` against live sites: gather snapshots, evaluate, add drill recency."""

from __future__ import annotations

from datetime import datetime

from streamdr.clock import utcnow
from streamdr.drills.history import last_passed
from streamdr.errors import StreamdrError
from streamdr.policy.checks import (
    CheckResult,
    SiteSnapshot,
    check_drill_recency,
    evaluate_site,
    overall_exit_code,
)
from streamdr.policy.config_checks import (
    evaluate_artifacts,
    evaluate_config,
    gather_artifacts,
    gather_config,
)
from streamdr.policy.inspect import snapshot_site
from streamdr.policy.quorum import QuorumStatus
from streamdr.policy.replication_checks import evaluate_replication, gather_replication
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

    Raises InputError for an unknown site.
    """
    policy = policy or TopicPolicy()
    names = [settings.site(site)[0]] if site else list(settings.sites)
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
    results.append(check_drill_recency(last_passed(store, "broker-failover"), now or utcnow()))
    if site is None:
        results += evaluate_replication(gather_replication(settings, store))
        config = gather_config(settings, store)
        if config is not None:
            results += evaluate_config(config, now or utcnow())
        artifacts = gather_artifacts(settings)
        if artifacts is not None:
            results.append(evaluate_artifacts(artifacts))
    results = [r for r in results if r.id not in (skip or set())]
    return results, overall_exit_code(results)
