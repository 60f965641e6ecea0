"""The real pipeline of the site-failover drills, behind the failover's WorkloadControl.

The drills run the production processes of a :class:`~streamdr.drills.pipeline_rig.PipelineRig`:
``streamdr cdc run SOURCE --site S`` per source database and ``streamdr run --site S
--subscriptions J`` per serving site, delivering to the reference endpoint. The failover and
failback executors start and stop them through :class:`SitePipeline` exactly as they run the
operator's workload commands, so a drill measures what a real failover does.
"""

from __future__ import annotations

from collections.abc import Mapping

from streamdr.drills.pipeline_rig import PipelineRig
from streamdr.replication.naming import ReplicationNames

# Against a dead site a clean stop can hang in a final flush or commit; the pipeline is kill -9
# safe (commit after delivery, checkpoint after acknowledgement), so a short grace is enough.
STOP_GRACE_S = 3.0


def cdc_sites(
    homes: Mapping[str, str], site: str, served: set[str], names: ReplicationNames, topic: str
) -> list[str]:
    """Return the sources whose CDC writes to ``site`` once its workers read ``served``.

    A source writes to its home site; when ``site`` reads the home's replicated copy of the
    change topic it stands in for that home, so the source's CDC moves there as well.
    """
    return sorted(
        src
        for src, home in homes.items()
        if home == site or names.remote_topic(home, topic) in served
    )


class SitePipeline:
    """Workers and CDC processes of a drill rig, per site (implements WorkloadControl)."""

    def __init__(self, rig: PipelineRig, names: ReplicationNames) -> None:
        self.rig, self.names = rig, names
        self.cdc_at: dict[str, str] = {}  # source -> site its CDC process writes to

    @staticmethod
    def worker_key(site: str) -> str:
        """Return the rig's process key of the worker on ``site``."""
        return f"worker-{site}"

    def stop(self, site: str) -> str:
        """Stop the worker on ``site`` and every CDC process writing there; say what stopped."""
        had_worker = self.rig.running(self.worker_key(site))
        sources = sorted(src for src, at in self.cdc_at.items() if at == site)
        keys = [self.worker_key(site), *(f"cdc-{src}" for src in sources)]
        self.rig.stop_many(keys, grace=STOP_GRACE_S)
        for src in sources:
            del self.cdc_at[src]
        worker = "worker stopped" if had_worker else "no worker"
        return f"{site}: {worker}, CDC stopped for {sources or 'no source'}"

    def start(self, site: str, subscriptions: dict[str, list[str]]) -> str:
        """Start the worker on ``site`` when it serves the drill group, and the CDC it hosts.

        Returns what was started; raises StateError when a CDC slot never appears.
        """
        group = self.rig.workflow_name
        parts = []
        served = set(subscriptions.get(group, []))
        if group in subscriptions:
            self.rig.stop_many([self.worker_key(site)], grace=STOP_GRACE_S)
            self.rig.start_worker(
                False, site=site, subscriptions={group: sorted(served)}, key=self.worker_key(site)
            )
            parts.append(f"worker on {site} reads {sorted(served) or 'its own topics'}")
        homes = {name: src.site for name, src in self.rig.sources.items()}
        for src in cdc_sites(homes, site, served, self.names, self.rig.topic):
            if self.cdc_at.get(src) == site and self.rig.running(f"cdc-{src}"):
                continue
            self.rig.stop_many([f"cdc-{src}"], grace=STOP_GRACE_S)
            self.rig.start_cdc(src, site=site, key=f"cdc-{src}")
            self.cdc_at[src] = site
            parts.append(f"CDC {src} → {site}")
        return "; ".join(parts) or f"nothing to run on {site}"

    def fenced(self, site: str) -> bool:
        """Return True when no worker reads from and no CDC writes to ``site``."""
        cdc = any(at == site and self.rig.running(f"cdc-{s}") for s, at in self.cdc_at.items())
        return not cdc and not self.rig.running(self.worker_key(site))
