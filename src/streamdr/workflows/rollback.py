"""Rollbacks are configuration changes: a new commit with the old content, then a deploy.

History stays append-only (the bad commit remains visible), the branch head always equals what
is deployed afterwards, and every rollback is recorded with its timestamps.

- ``rollback_config``: the tree of an earlier commit (``--to REV`` or ``--steps N`` deployments
  back) becomes a new commit on the branch, which is deployed.
- ``rollback_transformation``: one workflow's ``transformation.version`` is pinned to an earlier
  version by a one-line edit, committed and deployed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streamdr.clock import iso
from streamdr.errors import InputError, StateError
from streamdr.workflows.context import ConfigContext
from streamdr.workflows.deploy import DeployPlan, execute_deploy, plan_deploy, require_deployable
from streamdr.workflows.deployments import Deployment, current_deployment, deployment_history
from streamdr.workflows.diff import diff_files
from streamdr.workflows.documents import parse_workflow
from streamdr.workflows.events import OperationLog
from streamdr.workflows.model import SEMVER


@dataclass
class RollbackResult:
    """The outcome of a rollback: target, the new commit and deployment (None on dry run)."""

    kind: str
    target: str
    plan: DeployPlan
    commit: str | None = None
    deployment: Deployment | None = None
    dry_run: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "target": self.target,
            "new_commit": self.commit,
            "deployment": self.deployment.as_dict() if self.deployment else None,
            **self.detail,
            "plan": self.plan.as_dict(),
        }


def _target_of_steps(ctx: ConfigContext, steps: int) -> str:
    history = deployment_history(ctx.store, limit=steps + 1)
    if steps < 1 or len(history) <= steps:
        raise InputError(
            f"cannot roll back {steps} deployments: only {len(history)} recorded",
            hint="`streamdr config history` lists deployments; use --to REV for any commit.",
        )
    return history[steps].commit


def rollback_config(
    ctx: ConfigContext,
    actor: str,
    *,
    to: str | None = None,
    steps: int | None = None,
    dry_run: bool = False,
) -> RollbackResult:
    """Commit the tree of the target on top of the branch and deploy it.

    Raises InputError for a missing target, DocumentError when its tree no longer validates
    (e.g. an artifact it pins was deleted), StateError when the branch moved meanwhile.
    """
    if (to is None) == (steps is None):
        raise InputError("give exactly one of --to REV or --steps N", hint="e.g. --steps 1")
    target = ctx.repo.resolve(to) if to is not None else _target_of_steps(ctx, steps or 0)
    log = OperationLog("rollback", actor)
    with log.step(f"validate the tree of {target[:12]}") as st:
        target_plan = plan_deploy(ctx, target)
        st.detail = f"{len(target_plan.files)} files, {len(target_plan.validation.errors)} errors"
    require_deployable(target_plan)
    deployed = current_deployment(ctx.settings, ctx.store)
    detail = {"from_commit": deployed.commit if deployed else None, "to_commit": target}
    if dry_run:
        return RollbackResult("rollback", target, target_plan, dry_run=True, detail=detail)
    message = (
        f"streamdr: roll back configuration to {target[:12]}\n\n"
        f"Restores the workflow files of {target} (requested by {actor})."
    )
    return _commit_and_deploy(ctx, log, "rollback", target, target_plan.files, message, detail)


def _commit_and_deploy(
    ctx: ConfigContext,
    log: OperationLog,
    kind: str,
    target: str,
    files: dict[str, bytes],
    message: str,
    detail: dict[str, Any],
) -> RollbackResult:
    """Commit ``files`` as the branch's workflows/ tree, move the branch, deploy; record all."""
    head = ctx.repo.head()
    current = ctx.workflow_files(head) if head else {}
    changes: dict[str, bytes | None] = {p: None for p in current.keys() - files.keys()}
    changes.update({p: b for p, b in files.items() if current.get(p) != b})
    try:
        with log.step("commit on the branch") as st:
            commit = ctx.repo.commit_files(head, changes, message, log.actor) if changes else head
            if commit != head:
                ctx.repo.move_branch(commit, head, kind)
            st.detail = f"{commit[:12] if commit else '-'} ({len(changes)} files changed)"
        with log.step("validate and deploy") as st:
            plan = plan_deploy(ctx, commit or "")
            deployment = execute_deploy(
                ctx,
                plan,
                log.actor,
                kind=kind,
                detail={**detail, "requested_at": iso(log.started_at)},
            )
            st.detail = f"deployment {deployment.id}"
    except Exception:
        log.save(ctx.store, ok=False, commit=target, **detail)
        raise
    log.save(ctx.store, ok=True, commit=commit, deployment=deployment.id, **detail)
    detail = {**detail, "steps": [s.as_dict() for s in log.steps]}
    return RollbackResult(kind, target, plan, commit, deployment, detail=detail)


def _workflow_file(files: dict[str, bytes], workflow: str) -> tuple[str, Any]:
    for path, content in sorted(files.items()):
        doc = parse_workflow(content, path)
        if doc.workflow is not None and doc.workflow.name == workflow:
            return path, doc
    raise InputError(
        f"no workflow named {workflow!r} in the config repository's branch",
        hint="`streamdr workflows list --head` shows the workflows of the branch.",
    )


def pin_version(content: bytes, doc: Any, version: str, path: str) -> bytes:
    """Return ``content`` with ``transformation.version`` replaced by ``version`` (one-line edit).

    Raises InputError when the value is not a plain scalar on its own line.
    """
    line, col = doc["transformation"].lc.value("version")
    lines = content.decode().splitlines(keepends=True)
    text = lines[line]
    match = re.compile(r"""(['"]?)([^\s'"#,}]+)\1""").match(text, col)
    if match is None:
        raise InputError(
            f"{path}:{line + 1}: cannot edit transformation.version in place",
            hint="Edit the file by hand and `streamdr config deploy`.",
        )
    quote = match.group(1)
    lines[line] = text[: match.start()] + f"{quote}{version}{quote}" + text[match.end() :]
    new = "".join(lines).encode()
    check = parse_workflow(new, path)
    if check.workflow is None or check.workflow.transformation.version != version:
        raise InputError(
            f"{path}: editing transformation.version did not produce a valid file",
            hint="Edit the file by hand and `streamdr config deploy`.",
        )
    return new


def rollback_transformation(
    ctx: ConfigContext,
    workflow: str,
    version: str,
    actor: str,
    *,
    include_undeployed: bool = False,
    dry_run: bool = False,
) -> RollbackResult:
    """Pin ``workflow`` to transformation ``version`` in a new commit and deploy it.

    Raises InputError for an unknown workflow or a bad version, StateError when the branch has
    undeployed changes (unless ``include_undeployed``), DocumentError when the new tree does
    not validate (e.g. the version is not in the registry or fails verification).
    """
    if not SEMVER.match(version):
        raise InputError(f"{version!r} is not a semantic version", hint="For example 1.4.2.")
    log = OperationLog("transform-rollback", actor)
    head = ctx.repo.head()
    if head is None:
        raise StateError(
            f"branch {ctx.repo.branch} does not exist", hint="Run `streamdr config recover`."
        )
    files = ctx.workflow_files(head)
    _require_no_undeployed(ctx, files, include_undeployed)
    with log.step("edit and validate the tree") as st:
        plan, detail = _pin_plan(ctx, head, files, workflow, version)
        st.detail = f"{len(plan.validation.errors)} errors"
    require_deployable(plan)
    if dry_run:
        return RollbackResult("transform-rollback", head, plan, dry_run=True, detail=detail)
    message = (
        f"streamdr: roll back {workflow} transformation {detail['artifact']} "
        f"{detail['from_version']} -> {version}\n\n"
        f"Requested by {actor} at {iso(log.started_at)}."
    )
    return _commit_and_deploy(ctx, log, "transform-rollback", head, plan.files, message, detail)


def _pin_plan(
    ctx: ConfigContext, head: str, files: dict[str, bytes], workflow: str, version: str
) -> tuple[DeployPlan, dict[str, Any]]:
    """Return the deploy plan of ``files`` with ``workflow`` pinned to ``version``, and details."""
    path, doc = _workflow_file(files, workflow)
    ref = doc.workflow.transformation
    if ref.version == version:
        raise InputError(
            f"workflow {workflow} already pins {ref.name}@{version}",
            hint="`streamdr artifacts list` shows the versions you can roll back to.",
        )
    new_files = {**files, path: pin_version(files[path], doc.doc, version, path)}
    validation = ctx.validate(new_files, "rollback")
    plan = DeployPlan(
        head, "rollback", new_files, validation, current_deployment(ctx.settings, ctx.store)
    )
    plan.changes = diff_files(files, new_files)
    detail = {
        "workflow": workflow,
        "artifact": ref.name,
        "from_version": ref.version,
        "to_version": version,
        "file": path,
    }
    return plan, detail


def _require_no_undeployed(ctx: ConfigContext, files: dict[str, bytes], include: bool) -> None:
    deployed = current_deployment(ctx.settings, ctx.store)
    pending = diff_files(dict(deployed.files) if deployed else {}, files)
    if pending and not include:
        shown = ", ".join(f"{c.path} ({c.change})" for c in pending[:5])
        raise StateError(
            f"the branch has {len(pending)} undeployed changes ({shown}); a rollback commit on "
            "top of it would deploy them too",
            hint="Pass --include-undeployed to deploy them with the rollback, or roll back "
            "the whole configuration with `streamdr config rollback --steps 1`.",
        )
