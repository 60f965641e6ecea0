"""Where the pipeline gets its workflows and transformations from in production.

Workflows are the *deployed* ones (config repository + metadata DB), transformations the
signed artifacts they pin, verified on every load; both come from the workflows-as-code
capability. Nothing here skips a signature check.
"""

from __future__ import annotations

from streamdr.errors import InputError, StateError
from streamdr.pipeline.transform import TransformLoader
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.model import Workflow


def deployed_workflows(settings: Settings, store: MetadataStore) -> list[Workflow]:
    """Return the deployed workflows; raises StateError when there is no deployment support."""
    try:
        from streamdr.workflows.deployments import deployed_workflows as load
    except ImportError as exc:  # the workflows-as-code capability is not in this build
        raise StateError(
            "this streamdr build cannot read workflow deployments",
            hint="Install a streamdr with `streamdr config deploy` (workflows as code).",
        ) from exc
    return list(load(settings, store))


def pick(workflows: list[Workflow], names: list[str] | None) -> list[Workflow]:
    """Return the workflows named in ``names`` (all when empty); raises InputError for unknown."""
    if not names:
        return workflows
    known = {w.name: w for w in workflows}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(
            f"no deployed workflow named {', '.join(unknown)}",
            hint=f"Deployed: {', '.join(known) or 'none'} (`streamdr config deploy` deploys).",
        )
    return [known[n] for n in names]


def signed_transform_loader(settings: Settings) -> TransformLoader:
    """Return a loader that fetches, verifies (sha256 + ed25519) and imports artifacts."""
    try:
        from streamdr.artifacts.loader import load_transform
    except ImportError as exc:
        raise StateError(
            "this streamdr build cannot load signed transformation artifacts",
            hint="Install a streamdr with `streamdr artifacts publish` (workflows as code).",
        ) from exc
    return lambda ref: load_transform(settings, ref)
