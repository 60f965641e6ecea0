"""Where the pipeline gets its workflows and transformations from in production.

Workflows are the *deployed* ones (`streamdr config deploy`: a snapshot in the metadata DB),
transformations the signed artifacts they pin, verified (sha256 + ed25519) on every load.
Nothing here skips a signature check.
"""

from __future__ import annotations

from streamdr.artifacts.loader import load_transform
from streamdr.errors import InputError
from streamdr.pipeline.transform import TransformLoader
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.deployments import deployed_workflows as _deployed
from streamdr.workflows.model import Workflow


def deployed_workflows(settings: Settings, store: MetadataStore) -> list[Workflow]:
    """Return the workflows of the deployment in force (empty when nothing is deployed)."""
    return list(_deployed(settings, store))


def pick(workflows: list[Workflow], names: list[str] | None) -> list[Workflow]:
    """Return the workflows named in ``names`` (all when empty); raises InputError for unknown."""
    if not workflows:
        raise InputError(
            "no workflows are deployed",
            hint="Deploy the config repository with `streamdr config deploy` first.",
        )
    if not names:
        return workflows
    known = {w.name: w for w in workflows}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(
            f"no deployed workflow named {', '.join(unknown)}",
            hint=f"Deployed: {', '.join(known)} (`streamdr config deploy` deploys).",
        )
    return [known[n] for n in names]


def signed_transform_loader(settings: Settings) -> TransformLoader:
    """Return a loader that fetches, verifies (sha256 + ed25519) and imports artifacts."""
    return lambda ref: load_transform(settings, ref)
