"""Executing a recovery plan: validate the target, move the branch, verify every file, record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from streamdr.errors import StateError
from streamdr.workflows.context import ConfigContext
from streamdr.workflows.deploy import DeployResult, deploy, plan_deploy, require_deployable
from streamdr.workflows.deployments import Deployment, deployment_history
from streamdr.workflows.events import OperationLog
from streamdr.workflows.recovery import RecoveryPlan, TargetSource, plan_recovery
from streamdr.workflows.repo import ConfigRepo, ReflogEntry, TreeEntry
from streamdr.yamldoc import DocumentError


@dataclass
class RecoveryResult:
    """The plan, and when executed: the new branch head and the file verification."""

    plan: RecoveryPlan
    executed: bool = False
    new_head: str | None = None
    verification: dict[str, Any] = field(default_factory=dict)
    deploy: DeployResult | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "executed": self.executed,
            "new_head": self.new_head,
            "verification": self.verification,
            "deployed": self.deploy.as_dict() if self.deploy else None,
            "steps": self.steps,
            **self.plan.as_dict(),
        }


def gather_reflog(repo: ConfigRepo) -> list[ReflogEntry]:
    """Return the branch's reflog, then HEAD's (a deleted branch loses its own reflog)."""
    return repo.reflog() + repo.reflog("HEAD")


def current_plan(
    ctx: ConfigContext, *, to: str | None = None, prefer_deployed: bool = False
) -> RecoveryPlan:
    """Return the recovery plan for the repository as it is now."""
    deployed = [d.commit for d in deployment_history(ctx.store, limit=1000)]
    explicit = ctx.repo.resolve(to) if to else None
    return plan_recovery(
        ctx.repo.branch,
        ctx.repo.head(),
        list(dict.fromkeys(deployed)),
        gather_reflog(ctx.repo),
        ctx.repo.has_commit,
        ctx.repo.is_ancestor,
        explicit=explicit,
        prefer_deployed=prefer_deployed,
    )


def blob_id(data: bytes, like: str) -> str:
    """Return git's object id of a blob with ``data`` (sha1 or sha256, matching ``like``)."""
    algo = hashlib.sha256 if len(like) == 64 else hashlib.sha1
    return algo(b"blob %d\0" % len(data) + data).hexdigest()


def verify_tree(repo: ConfigRepo, commit: str, snapshot: Deployment | None) -> dict[str, Any]:
    """Return a verification of every file of ``commit``: content hashes and the DB snapshot.

    Each file's bytes are re-hashed against its git object id; if ``snapshot`` is the deployment
    of ``commit``, every deployed workflow file must also be byte-identical to it.
    """
    entries: dict[str, TreeEntry] = repo.tree(commit)
    blobs = repo.read_blobs(sorted({e.blob for e in entries.values()}))
    corrupt = sorted(p for p, e in entries.items() if blob_id(blobs[e.blob], e.blob) != e.blob)
    differs: list[str] = []
    if snapshot is not None:
        for path, text in snapshot.files.items():
            entry = entries.get(path)
            if entry is None or blobs[entry.blob] != text.encode():
                differs.append(path)
    return {
        "commit": commit,
        "files": len(entries),
        "corrupt": corrupt,
        "snapshot_checked": snapshot is not None,
        "snapshot_files": len(snapshot.files) if snapshot else 0,
        "differs_from_snapshot": sorted(differs),
        "ok": not corrupt and not differs,
    }


def verify_recovery(ctx: ConfigContext, plan: RecoveryPlan, target: str) -> dict[str, Any]:
    """Return the verification of a restored branch.

    Every file of the new head is re-hashed; the last known-good deployed commit must be in the
    branch and its workflow files byte-identical to the deployment snapshot in the metadata DB.
    """
    last = plan.last_deployed
    snapshot = _snapshot_for(ctx, last) if last else None
    if plan.source is TargetSource.SNAPSHOT or last is None:
        head = verify_tree(ctx.repo, target, snapshot)
        return {**head, "head": head, "last_good": None}
    head = verify_tree(ctx.repo, target, snapshot if target == last else None)
    good = verify_tree(ctx.repo, last, snapshot)
    contained = ctx.repo.is_ancestor(last, target)
    return {
        "ok": head["ok"] and good["ok"] and contained,
        "files": head["files"],
        "head": head,
        "last_good": {**good, "in_branch": contained},
    }


def _snapshot_for(ctx: ConfigContext, commit: str) -> Deployment | None:
    return next((d for d in deployment_history(ctx.store, limit=1000) if d.commit == commit), None)


def recover(
    ctx: ConfigContext,
    actor: str,
    *,
    execute: bool = False,
    to: str | None = None,
    prefer_deployed: bool = False,
    and_deploy: bool = False,
) -> RecoveryResult:
    """Plan the recovery and, with ``execute``, carry it out (dry run by default).

    Raises StateError when nothing was deployed or the branch moved meanwhile, DocumentError
    when the target's tree does not validate.
    """
    plan = current_plan(ctx, to=to, prefer_deployed=prefer_deployed)
    result = RecoveryResult(plan)
    if not execute or not plan.needed:
        return result
    log = OperationLog("recover", actor)
    try:
        target = _restore(ctx, plan, log)
        with log.step("verify every file of the restored commit") as st:
            result.verification = verify_recovery(ctx, plan, target)
            st.ok = result.verification["ok"]
            st.detail = f"{result.verification['files']} files verified"
        if and_deploy:
            with log.step("deploy the restored commit"):
                result.deploy = deploy(ctx, target, actor)
    except Exception:
        log.save(ctx.store, ok=False, commit=plan.target, plan=plan.as_dict())
        raise
    result.executed, result.new_head = True, target
    result.steps = [s.as_dict() for s in log.steps]
    log.save(ctx.store, ok=result.verification["ok"], commit=target, plan=plan.as_dict())
    return result


def _restore(ctx: ConfigContext, plan: RecoveryPlan, log: OperationLog) -> str:
    """Validate the target (or rebuild it from the snapshot), move the branch; return the head."""
    if plan.source is TargetSource.SNAPSHOT:
        with log.step("rebuild the deployed files from the metadata DB snapshot") as st:
            target = _commit_snapshot(ctx, plan, log.actor)
            st.detail = f"commit {target[:12]}"
    else:
        target = plan.target or ""
    with log.step(f"validate the tree of {target[:12]}") as st:
        target_plan = plan_deploy(ctx, target)
        st.detail = f"{len(target_plan.validation.errors)} errors"
        try:
            require_deployable(target_plan)
        except DocumentError as exc:
            raise DocumentError(
                exc.errors,
                hint=f"The {plan.source} target does not validate; nothing was changed. Use "
                "--to-deployed to restore the last deployed commit, or --to REV.",
            ) from exc
    with log.step(f"move {ctx.repo.branch} to {target[:12]}"):
        ctx.repo.ensure_reflog()
        ctx.repo.move_branch(target, plan.head, f"recover to {target[:12]} ({plan.source})")
    return target


def _commit_snapshot(ctx: ConfigContext, plan: RecoveryPlan, actor: str) -> str:
    snapshot = _snapshot_for(ctx, plan.last_deployed or "")
    if snapshot is None:
        raise StateError("the deployment snapshot is missing", hint="Restore from a bundle.")
    head = plan.head
    current = ctx.workflow_files(head) if head else {}
    changes: dict[str, bytes | None] = {p: None for p in current.keys() - snapshot.files.keys()}
    changes.update({p: t.encode() for p, t in snapshot.files.items()})
    message = (
        f"streamdr: rebuild deployed configuration {snapshot.commit[:12]} from the metadata DB\n\n"
        f"The commit object was lost; these are the files deployed at {snapshot.deployed_at}."
    )
    return ctx.repo.commit_files(head, changes, message, actor)
