"""Drill ``repo-recovery``: force-reset the config repository and recover (Scenario 3).

Runs in a sandbox config environment (see :mod:`streamdr.harness.config_sandbox`). The known-good
configuration is deployed, one more valid commit is made (not deployed) and the repository is
backed up as a bundle. Then the branch is hard-reset to its first commit, as an accidental
``git reset --hard`` + ``git push --force`` would leave it.

Phase 1 (reflog): detect the lost deployed commit, plan and execute ``config recover``, and
verify every file of the pre-incident tip and of the last deployed commit. RTO is reset →
verified; RPO is 0 when no commit and no file of the pre-incident branch is missing.
Phase 2 (the strategy's alternative, "if reflog also corrupted"): delete the repository
directory, rebuild it with ``config restore-bundle`` and verify every file against the bundle.
"""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from typing import Any

from streamdr.drills.context import DrillContext
from streamdr.drills.report import DrillReport
from streamdr.errors import StateError
from streamdr.harness.config_sandbox import ACTOR, Sandbox
from streamdr.objectstore.store import open_store
from streamdr.policy.tiers import Targets
from streamdr.workflows.bundles import backup_repo, restore_bundle
from streamdr.workflows.context import ConfigContext
from streamdr.workflows.deploy import deploy
from streamdr.workflows.drift import LOST, branch_relation
from streamdr.workflows.recover import blob_id, recover
from streamdr.workflows.repo import ConfigRepo

# Strategy, Scenario 3: "RTO: 15 minutes (reflog recovery + validation); RPO: 0".
TARGETS = Targets(rpo=timedelta(0), rto=timedelta(minutes=15))
EXTRA_FILE = "workflows/client-b/stock-feed.yaml"


def tree_fingerprint(repo: ConfigRepo, rev: str) -> dict[str, str]:
    """Return ``{path: blob id}`` of every file of ``rev``, each re-hashed from its bytes."""
    entries = repo.tree(rev)
    blobs = repo.read_blobs(sorted({e.blob for e in entries.values()}))
    return {path: blob_id(blobs[e.blob], e.blob) for path, e in entries.items()}


class RepoRecoveryDrill:
    """Force-reset the config branch, recover from the reflog and from a bundle."""

    name = "repo-recovery"
    description = "Force-reset the config repo, recover via reflog and bundle; RTO < 15 min, RPO 0"
    targets = TARGETS

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill in a sandbox and fill ``report``."""
        sandbox = Sandbox.create(ctx.settings)
        try:
            cfg, tip, deployed = self._prepare(report, sandbox)
            phase1 = self._reflog_recovery(report, cfg, tip, deployed)
            phase2 = self._bundle_recovery(report, sandbox, cfg, tip)
            self._judge(report, phase1, phase2)
        finally:
            with report.step("remove the sandbox"):
                sandbox.close()
        return report

    def _prepare(self, report: DrillReport, sandbox: Sandbox) -> tuple[ConfigContext, str, str]:
        with report.step("prepare: deploy known-good config, one more commit, back up") as st:
            sandbox.publish_samples()
            sandbox.commit_initial()
            cfg = sandbox.context()
            deployment = deploy(cfg, None, ACTOR).deployment
            if deployment is None:
                raise StateError("the sandbox deployed nothing", hint="This is a drill bug.")
            content = cfg.repo.read_files(deployment.commit)[EXTRA_FILE].replace(
                b"tier: standard", b"tier: standard\nrto: 10m"
            )
            tip = sandbox.commit({EXTRA_FILE: content}, "tighten stock-feed RTO")
            backup_repo(cfg.repo, open_store(sandbox.settings, "backups"), ACTOR)
            st.detail = (
                f"deployed {deployment.commit[:12]}, tip {tip[:12]} (undeployed), bundle written"
            )
        return cfg, tip, deployment.commit

    def _reflog_recovery(
        self, report: DrillReport, cfg: ConfigContext, tip: str, deployed: str
    ) -> dict[str, Any]:
        repo = cfg.repo
        before = tree_fingerprint(repo, tip)
        root = repo.git("rev-list", "--max-parents=0", tip)
        with report.step("fault: git reset --hard to the first commit (commits lost)") as st:
            fault_at = time.monotonic()
            repo.git("reset", "--hard", "-q", root)
            st.detail = f"branch now {root[:12]}"
        with report.step("detect: the branch no longer contains the deployed commit") as st:
            relation = branch_relation(deployed, repo.head(), repo.has_commit, repo.is_ancestor)
            st.ok = relation in LOST
            st.detail = f"relation {relation}"
        with report.step("recover from the reflog and the metadata DB (config recover)") as st:
            dry = recover(cfg, ACTOR)
            result = recover(cfg, ACTOR, execute=True)
            st.detail = f"{dry.plan.source} target {(result.new_head or '-')[:12]}"
        with report.step("verify every file of the pre-incident tip and the deployed commit") as st:
            after = tree_fingerprint(repo, repo.head() or "")
            missing = sorted(p for p in before if after.get(p) != before[p])
            lost_commits = repo.count_commits(repo.head() or "", tip)
            rto = time.monotonic() - fault_at
            st.ok = not missing and lost_commits == 0 and bool(result.verification.get("ok"))
            st.detail = f"{len(before)} files compared, {len(missing)} differ, RTO {rto:.3f}s"
        return {
            "relation_detected": str(relation),
            "target_source": str(dry.plan.source),
            "target": result.new_head,
            "restored_pre_incident_tip": result.new_head == tip,
            "files_verified": len(before),
            "files_missing_or_different": missing,
            "commits_lost": lost_commits,
            "verification_ok": bool(result.verification.get("ok")),
            "rto_seconds": round(rto, 3),
        }

    def _bundle_recovery(
        self, report: DrillReport, sandbox: Sandbox, cfg: ConfigContext, tip: str
    ) -> dict[str, Any]:
        repo = cfg.repo
        before = tree_fingerprint(repo, tip)
        with report.step("fault: delete the repository directory (reflog gone too)"):
            started = time.monotonic()
            shutil.rmtree(repo.path)
        with report.step("restore the repository from the newest bundle") as st:
            result = restore_bundle(open_store(sandbox.settings, "backups"), repo.path)
            st.detail = f"bundle {result.manifest.bundle_key}"
        with report.step("verify every file against the backed-up head") as st:
            after = tree_fingerprint(repo, repo.head() or "")
            missing = sorted(p for p in before if after.get(p) != before[p])
            seconds = time.monotonic() - started
            st.ok = not missing and repo.head() == tip
            st.detail = f"{len(after)} files, {len(missing)} differ, {seconds:.3f}s"
        return {
            "restored_head": repo.head(),
            "head_matches_backup": repo.head() == tip,
            "files_missing_or_different": missing,
            "rto_seconds": round(seconds, 3),
        }

    def _judge(self, report: DrillReport, phase1: dict[str, Any], phase2: dict[str, Any]) -> None:
        rpo_zero = not phase1["files_missing_or_different"] and phase1["commits_lost"] == 0
        report.rto_seconds = phase1["rto_seconds"]
        report.rpo_seconds = 0.0 if rpo_zero else None
        report.figures.update({"reflog_recovery": phase1, "bundle_recovery": phase2})
        limit = self.targets.rto.total_seconds()
        report.judge(
            {
                "lost deployed commit detected": phase1["relation_detected"]
                in {str(r) for r in LOST},
                "branch restored to the pre-incident tip": phase1["restored_pre_incident_tip"],
                "every file of the last good commit verified": phase1["verification_ok"],
                "RPO = 0 (no commit or file lost)": rpo_zero,
                f"RTO < {limit:.0f}s": phase1["rto_seconds"] < limit,
                "bundle restore reproduces every file": not phase2["files_missing_or_different"]
                and phase2["head_matches_backup"],
            }
        )
