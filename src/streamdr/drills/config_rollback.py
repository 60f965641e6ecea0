"""Drill ``config-rollback``: deploy a bad config, detect it, roll back; RTO < 30 min, RPO 0.

Runs in a sandbox config environment (see :mod:`streamdr.harness.config_sandbox`) with the real git,
registry, signing and loader code. Two faults, as in the strategy's "Deploy bad config, rollback":

1. A commit that breaks validation (unknown field, an RTO above the tier limit, a missing
   artifact version). Deploying it must be refused with every error listed and nothing deployed;
   the branch is then repaired with ``config rollback --to <known good>``.
2. A valid commit that breaks a workflow (pins a transformation version that fails on every
   event). It deploys; a smoke run of every deployed transformation detects it; ``config
   rollback --steps 1`` restores the previous deployment. RTO is bad deploy → rollback deployed
   and the smoke run passing again. RPO is 0 when the deployed files equal the known-good files.
"""

from __future__ import annotations

import time

from streamdr.drills.context import DrillContext
from streamdr.drills.report import DrillReport
from streamdr.errors import StateError
from streamdr.harness.config_sandbox import (
    ACTOR,
    BUGGY,
    WORKFLOWS,
    Sandbox,
    smoke_test,
    workflow_yaml,
)
from streamdr.policy.tiers import DRILL_TARGETS
from streamdr.workflows.context import ConfigContext
from streamdr.workflows.deploy import deploy
from streamdr.workflows.deployments import Deployment, current_deployment, deployed_workflows
from streamdr.workflows.rollback import rollback_config
from streamdr.yamldoc import DocumentError

BROKEN_FILE = "workflows/client-b/stock-feed.yaml"
BROKEN_YAML = (
    b"name: stock-feed\nclient: client-b\ntier: critical\nrto: 1h\ncolour: blue\n"
    b"source:\n  database: drill\n  tables: [public.stock]\n"
    b"transformation:\n  name: drill-transform\n  version: 9.9.9\n"
    b"sink:\n  kind: http\n  url: http://127.0.0.1:9/stock-feed\n"
)
# unknown field `colour`, rto 1h above the critical limit, artifact version 9.9.9 missing
EXPECTED_ERRORS = 3
BUGGY_FILE = "workflows/client-a/orders-to-crm.yaml"


def _deployed(cfg: ConfigContext) -> Deployment:
    deployment = current_deployment(cfg.settings, cfg.store)
    if deployment is None:
        raise StateError("the sandbox has no deployment", hint="This is a drill bug; report it.")
    return deployment


class ConfigRollbackDrill:
    """Deploy a broken configuration, detect it and roll back; measure the RTO."""

    name = "config-rollback"
    description = "Deploy an invalid and a breaking config, detect, roll back; RTO < 30 min, RPO 0"
    targets = DRILL_TARGETS["config-rollback"]

    def run(self, ctx: DrillContext, report: DrillReport) -> DrillReport:
        """Run the drill in a sandbox and fill ``report``."""
        sandbox = Sandbox.create(ctx.settings)
        try:
            with report.step("prepare sandbox: key, registry, repository, 3 workflows") as st:
                sandbox.publish_samples()
                good = sandbox.commit_initial()
                cfg = sandbox.context()
                st.detail = f"registry {sandbox.settings.stores['registry'].url}"
            with report.step("deploy the known-good configuration") as st:
                baseline = deploy(cfg, None, ACTOR).deployment
                failures = smoke_test(sandbox.settings, deployed_workflows(cfg.settings, cfg.store))
                st.ok = baseline is not None and not failures
                st.detail = f"commit {good[:12]}, smoke failures {failures or 'none'}"
            refused = self._invalid_config(report, sandbox, cfg, good)
            self._breaking_config(report, sandbox, cfg, good, refused)
        finally:
            with report.step("remove the sandbox"):
                sandbox.close()
        return report

    def _invalid_config(
        self, report: DrillReport, sandbox: Sandbox, cfg: ConfigContext, good: str
    ) -> dict[str, object]:
        """Fault 1: an invalid commit must deploy nothing; repair the branch by rollback."""
        with report.step("fault 1: commit and deploy a config that breaks validation") as st:
            bad = sandbox.commit({BROKEN_FILE: BROKEN_YAML}, "break validation")
            started = time.monotonic()
            errors: list[str] = []
            try:
                deploy(cfg, None, ACTOR)
            except DocumentError as exc:
                errors = [str(e) for e in exc.errors]
            still = current_deployment(cfg.settings, cfg.store)
            refused = {
                "refused": bool(errors),
                "errors_reported": len(errors),
                "nothing_deployed": still is not None and still.commit == good,
                "detect_seconds": round(time.monotonic() - started, 3),
                "errors": errors,
            }
            st.ok = bool(refused["refused"] and refused["nothing_deployed"])
            st.detail = f"{len(errors)} errors reported at once; deployed still {good[:12]}"
        with report.step("repair the branch: config rollback --to the known-good commit") as st:
            started = time.monotonic()
            result = rollback_config(cfg, ACTOR, to=good)
            refused["repair_seconds"] = round(time.monotonic() - started, 3)
            refused["bad_commit_kept_in_history"] = cfg.repo.is_ancestor(bad, result.commit or "")
            st.detail = f"new commit {(result.commit or '-')[:12]}"
        return refused

    def _breaking_config(
        self,
        report: DrillReport,
        sandbox: Sandbox,
        cfg: ConfigContext,
        good: str,
        refused: dict[str, object],
    ) -> None:
        """Fault 2: a valid commit that breaks a workflow; detect and roll back, timing it."""
        known_good = dict(_deployed(cfg).files)
        with report.step(
            f"fault 2: deploy a config pinning the buggy transformation {BUGGY}"
        ) as st:
            name, client, table = WORKFLOWS[BUGGY_FILE]
            sandbox.commit({BUGGY_FILE: workflow_yaml(name, client, table, BUGGY)}, "buggy release")
            fault_at = time.monotonic()
            bad = deploy(cfg, None, ACTOR).deployment
            st.detail = f"deployment {bad.id if bad else '-'}"
        with report.step("detect: run every deployed transformation once") as st:
            failures = smoke_test(sandbox.settings, deployed_workflows(cfg.settings, cfg.store))
            detected = time.monotonic() - fault_at
            st.ok = bool(failures)
            st.detail = f"broken: {failures}"
        with report.step("roll back: config rollback --steps 1") as st:
            rollback_config(cfg, ACTOR, steps=1)
            after = smoke_test(sandbox.settings, deployed_workflows(cfg.settings, cfg.store))
            rto = time.monotonic() - fault_at
            st.ok = not after
            st.detail = f"RTO {rto:.3f}s, smoke failures after rollback: {after or 'none'}"
        deployed = dict(_deployed(cfg).files)
        lost = sorted(p for p in known_good if deployed.get(p) != known_good[p])
        self._judge(report, refused, failures, after, rto, detected, lost)

    def _judge(
        self,
        report: DrillReport,
        refused: dict[str, object],
        detected_failures: dict[str, str],
        after: dict[str, str],
        rto: float,
        detect_seconds: float,
        lost: list[str],
    ) -> None:
        report.rto_seconds = round(rto, 3)
        report.rpo_seconds = 0.0 if not lost else None
        report.figures.update(
            {
                "invalid_config": refused,
                "breaking_config_detected": sorted(detected_failures),
                "detect_seconds": round(detect_seconds, 3),
                "files_differing_from_known_good": lost,
            }
        )
        limit = self.targets.rto.total_seconds()
        report.judge(
            {
                "invalid config refused with every error, nothing deployed": bool(
                    refused["refused"]
                    and refused["nothing_deployed"]
                    and refused["errors_reported"] == EXPECTED_ERRORS
                ),
                "bad commit kept in history (append-only)": bool(
                    refused["bad_commit_kept_in_history"]
                ),
                "breaking config detected": bool(detected_failures),
                "smoke run passes after rollback": not after,
                f"RTO < {limit:.0f}s": rto < limit,
                "RPO = 0 (deployed files equal the known-good files)": not lost,
            }
        )
