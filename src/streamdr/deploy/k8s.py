"""Kubernetes objects for one region of a streamdr deployment, built as data (pure).

One render is for one site (region): its workers (per tier or per workflow), its CDC readers
(one active reader per source: one replica, `Recreate`, so two never run at once), `serve`
(health, readiness and metrics of the platform), the continuous scaled-out backup,
PodDisruptionBudgets, Services for /metrics, and the Strimzi ``KafkaMirrorMaker2`` resources the
caller passes in. A standby region renders the same objects with workers at zero replicas;
failover scales them up (docs/deployment.md). streamdr.yaml comes from a ConfigMap, secrets
(SASL passwords, store keys, the metadata DB URL) from a Secret as environment variables, the
trusted signing keys from a Secret mounted read-only. The objects reference those; they never
hold secret values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streamdr.errors import InputError
from streamdr.policy.tiers import Tier

PORT = 8080
CONFIG_DIR = "/etc/streamdr"
KEYS_DIR = "/etc/streamdr/keys"
APP = "streamdr"
_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

# From the strategy's worker Deployment ("Execution Environment Recovery"): requests, limits
# and probes. A critical tier gets more replicas so that one pod lost costs no capacity.
WORKER_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "512Mi"},
    "limits": {"cpu": "1000m", "memory": "1Gi"},
}
SMALL_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "1000m", "memory": "512Mi"},
}
BACKUP_RESOURCES = {
    "requests": {"cpu": "1000m", "memory": "512Mi"},
    "limits": {"cpu": "2000m", "memory": "1Gi"},
}
TIER_REPLICAS = {Tier.CRITICAL: 3, Tier.STANDARD: 2, Tier.NON_CRITICAL: 1}


@dataclass(frozen=True)
class WorkflowRef:
    """A deployed workflow's name and tier (what a worker Deployment is made for)."""

    name: str
    tier: Tier


@dataclass(frozen=True)
class K8sOptions:
    """What to render for one region."""

    site: str
    image: str
    namespace: str = "streamdr"
    per: str = "tier"
    standby: bool = False
    config_map: str = "streamdr-config"
    env_secret: str = "streamdr-env"
    keys_secret: str = "streamdr-signing-keys"
    backup_replicas: int = 2
    serve_replicas: int = 2
    workflows: tuple[WorkflowRef, ...] = ()
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.per not in ("tier", "workflow"):
            raise InputError(f"--per {self.per!r} is unknown", hint="Use tier or workflow.")
        for what, value in (("namespace", self.namespace), ("site", self.site)):
            if not _NAME_RE.fullmatch(value) or len(value) > 63:
                raise InputError(
                    f"{what} {value!r} is not a Kubernetes name",
                    hint="Lower-case letters, digits and '-', at most 63 characters.",
                )


def dns_name(*parts: str) -> str:
    """Return a DNS-1123 label made of ``parts`` (lower-cased, other characters as '-').

    Raises InputError when nothing usable is left or the label would be over 63 characters.
    """
    raw = "-".join(parts).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    if not name or len(name) > 63:
        raise InputError(
            f"{raw!r} cannot be a Kubernetes object name (63 characters at most)",
            hint="Use shorter workflow or source names, or render --per tier.",
        )
    return name


def _labels(opts: K8sOptions, component: str, name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": name,
        "streamdr.io/site": opts.site,
    }


def _probe(path: str, initial: int, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def _container(
    opts: K8sOptions, args: list[str], resources: dict[str, Any], http: bool
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "streamdr",
        "image": opts.image,
        "args": args,
        "env": [
            {"name": "STREAMDR_CONFIG", "value": f"{CONFIG_DIR}/streamdr.yaml"},
        ],
        "envFrom": [{"secretRef": {"name": opts.env_secret}}],
        "resources": resources,
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "signing-keys", "mountPath": KEYS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if http:
        container["ports"] = [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
        # The strategy's probes: liveness restarts a hung process, readiness takes it out.
        container["livenessProbe"] = _probe("/health", 30, 10)
        container["readinessProbe"] = _probe("/ready", 10, 5)
    return container


def _pod_spec(opts: K8sOptions, container: dict[str, Any], grace: int) -> dict[str, Any]:
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # SIGTERM first: workers and the backup flush what they read, then commit (durable).
        "terminationGracePeriodSeconds": grace,
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": opts.config_map}},
            {"name": "signing-keys", "secret": {"secretName": opts.keys_secret}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }


@dataclass(frozen=True)
class Workload:
    """One Deployment to render: its name, component, command and shape."""

    name: str
    component: str
    args: list[str]
    replicas: int
    resources: dict[str, Any]
    http: bool = True
    recreate: bool = False
    grace: int = 60


def deployment(opts: K8sOptions, w: Workload) -> dict[str, Any]:
    """Return the Deployment of one workload."""
    labels = _labels(opts, w.component, w.name)
    strategy: dict[str, Any] = (
        {"type": "Recreate"}
        if w.recreate
        else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": w.name, "namespace": opts.namespace, "labels": labels},
        "spec": {
            "replicas": w.replicas,
            "strategy": strategy,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod_spec(opts, _container(opts, w.args, w.resources, w.http), w.grace),
            },
        },
    }


def metrics_service(opts: K8sOptions, w: Workload) -> dict[str, Any]:
    """Return the Service that exposes a workload's /metrics (and probes) to Prometheus."""
    labels = _labels(opts, w.component, w.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": w.name,
            "namespace": opts.namespace,
            "labels": labels,
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(PORT),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def disruption_budget(opts: K8sOptions, w: Workload) -> dict[str, Any]:
    """Return a PodDisruptionBudget letting a drain evict one pod of ``w`` at a time."""
    labels = _labels(opts, w.component, w.name)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": w.name, "namespace": opts.namespace, "labels": labels},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
    }


def workloads(opts: K8sOptions) -> list[Workload]:
    """Return the workloads of one region: workers, CDC readers, serve and the backup."""
    active = 0 if opts.standby else 1
    found = _workers(opts, active)
    for source in opts.sources:
        found.append(
            Workload(
                dns_name(APP, "cdc", source),
                "cdc",
                ["cdc", "run", source, "--port", str(PORT), "--site", opts.site],
                active,  # one reader per source: a second would race for the slot
                SMALL_RESOURCES,
                recreate=True,
            )
        )
    found.append(
        Workload(
            dns_name(APP, "serve"),
            "serve",
            ["serve", "--host", "0.0.0.0", "--port", str(PORT)],
            opts.serve_replicas,
            SMALL_RESOURCES,
        )
    )
    found.append(
        Workload(
            dns_name(APP, "backup"),
            "backup",
            ["backup", "run", "--continuous", "--scale-out", "--site", opts.site],
            opts.backup_replicas * active,
            BACKUP_RESOURCES,
            http=False,  # no probe endpoint: a failing backup exits and is restarted
            grace=90,
        )
    )
    return found


def _workers(opts: K8sOptions, active: int) -> list[Workload]:
    groups: dict[str, tuple[Tier, list[str]]] = {}
    for wf in opts.workflows:
        key = wf.tier.value if opts.per == "tier" else wf.name
        tier = groups[key][0] if key in groups else wf.tier
        groups.setdefault(key, (tier, []))[1].append(wf.name)
    found = []
    for key, (tier, names) in sorted(groups.items()):
        args = ["run", "--host", "0.0.0.0", "--port", str(PORT), "--site", opts.site]
        for name in sorted(names):
            args += ["--workflow", name]
        found.append(
            Workload(
                dns_name(APP, "worker", key),
                f"worker-{tier.value}",
                args,
                TIER_REPLICAS[tier] * active,
                WORKER_RESOURCES,
            )
        )
    return found


def render_objects(
    opts: K8sOptions, strimzi: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Return every object of the region: Deployments, Services, PDBs, then Strimzi's."""
    objects: list[dict[str, Any]] = []
    for w in workloads(opts):
        objects.append(deployment(opts, w))
        if w.http:
            objects.append(metrics_service(opts, w))
        if w.replicas > 1:  # a PDB on a single pod would block every node drain
            objects.append(disruption_budget(opts, w))
    for resource in strimzi:
        objects.append(
            {**resource, "metadata": {**resource["metadata"], "namespace": opts.namespace}}
        )
    return objects
