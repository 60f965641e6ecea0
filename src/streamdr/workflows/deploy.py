"""Deploying a commit of the config repository: validate the whole tree, then record it.

A tree with one invalid file deploys nothing: validation runs first over every workflow file,
and only a fully valid tree is recorded (in one transaction) as the deployment in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamdr.errors import InputError
from streamdr.workflows.context import ConfigContext
from streamdr.workflows.deployments import Deployment, current_deployment, record_deployment
from streamdr.workflows.diff import FileChange, diff_files
from streamdr.workflows.events import OperationLog
from streamdr.workflows.validation import TreeValidation
from streamdr.yamldoc import DocumentError


@dataclass
class DeployPlan:
    """What deploying ``commit`` would do: its files, their validation, changes vs the live one."""

    commit: str
    rev: str
    files: dict[str, bytes]
    validation: TreeValidation
    previous: Deployment | None
    changes: list[FileChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when every file is valid and the tree holds at least one workflow."""
        return self.validation.ok and bool(self.files)

    @property
    def already_deployed(self) -> bool:
        """Return True when this commit is the deployment in force."""
        return self.previous is not None and self.previous.commit == self.commit

    @property
    def artifacts(self) -> list[str]:
        """Return the ``name@version`` every workflow pins, sorted."""
        return sorted(
            {
                f"{w.transformation.name}@{w.transformation.version}"
                for w in self.validation.workflows
            }
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as a JSON-ready mapping."""
        return {
            "rev": self.rev,
            "commit": self.commit,
            "previous_commit": self.previous.commit if self.previous else None,
            "already_deployed": self.already_deployed,
            "changes": [c.as_dict() for c in self.changes],
            "artifacts": self.artifacts,
            "validation": self.validation.as_dict(),
        }


def plan_deploy(ctx: ConfigContext, rev: str) -> DeployPlan:
    """Return the plan for deploying ``rev``; raises InputError when ``rev`` does not exist."""
    commit = ctx.repo.resolve(rev)
    files = ctx.workflow_files(commit)
    validation = ctx.validate(files, commit[:12])
    previous = current_deployment(ctx.settings, ctx.store)
    changes = diff_files(dict(previous.files) if previous else {}, files)
    return DeployPlan(commit, rev, files, validation, previous, changes)


def require_deployable(plan: DeployPlan, *, allow_empty: bool = False) -> None:
    """Raise DocumentError listing every error, or InputError for a tree without workflows."""
    if not plan.validation.ok:
        raise DocumentError(
            plan.validation.errors,
            hint=f"Nothing was deployed. Fix all {len(plan.validation.errors)} errors "
            "(`streamdr workflows validate` lists them) and commit again.",
        )
    if not plan.files and not allow_empty:
        raise InputError(
            f"commit {plan.commit[:12]} has no workflow files under workflows/; refusing to "
            "deploy an empty configuration",
            hint="If the files were lost (force push, reset), run `streamdr config recover`; "
            "to really remove every workflow pass --allow-empty.",
        )


def execute_deploy(
    ctx: ConfigContext,
    plan: DeployPlan,
    actor: str,
    *,
    kind: str = "deploy",
    detail: dict[str, Any] | None = None,
    allow_empty: bool = False,
) -> Deployment:
    """Record ``plan`` as the deployment in force and return it (validation first)."""
    require_deployable(plan, allow_empty=allow_empty)
    return record_deployment(
        ctx.store,
        commit=plan.commit,
        branch=ctx.repo.branch,
        kind=kind,
        deployed_by=actor,
        previous_commit=plan.previous.commit if plan.previous else None,
        files={p: b.decode() for p, b in plan.files.items()},
        artifacts=plan.artifacts,
        detail=detail,
    )


@dataclass
class DeployResult:
    """The outcome of `config deploy`."""

    plan: DeployPlan
    deployment: Deployment | None
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "dry_run": self.dry_run,
            "deployed": self.deployment is not None,
            "deployment": self.deployment.as_dict() if self.deployment else None,
            **self.plan.as_dict(),
        }


def deploy(
    ctx: ConfigContext,
    rev: str | None,
    actor: str,
    *,
    dry_run: bool = False,
    allow_empty: bool = False,
) -> DeployResult:
    """Validate ``rev`` (default the branch head) and record it as deployed.

    Re-deploying the commit in force records nothing. Raises DocumentError (exit 2) listing
    every error when any file is invalid; nothing is recorded then.
    """
    log = OperationLog("deploy", actor)
    with log.step("validate the tree") as st:
        plan = plan_deploy(ctx, rev or ctx.repo.branch)
        st.detail = f"{len(plan.files)} files, {len(plan.validation.errors)} errors"
    if dry_run or (plan.already_deployed and plan.ok):
        return DeployResult(plan, None, dry_run)
    try:
        with log.step("record the deployment") as st:
            ctx.repo.ensure_reflog()
            deployment = execute_deploy(ctx, plan, actor, allow_empty=allow_empty)
            st.detail = f"deployment {deployment.id}"
    except Exception:
        log.save(ctx.store, ok=False, commit=plan.commit, errors=len(plan.validation.errors))
        raise
    log.save(ctx.store, ok=True, commit=plan.commit, deployment=deployment.id)
    return DeployResult(plan, deployment, dry_run)
