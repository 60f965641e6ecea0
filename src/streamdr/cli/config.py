"""`streamdr config …`: deploy the config repository, roll back, detect drift, recover, back up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from streamdr.cli.options import (
    By,
    DryRun,
    Execute,
    Json,
    Yes,
    print_plan_only,
    wants_execute,
)
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.cli.workflows import print_field_errors
from streamdr.errors import InputError
from streamdr.objectstore.store import ObjectStore, open_store
from streamdr.settings.model import Settings
from streamdr.workflows.bundles import backup_repo, list_bundles, restore_bundle
from streamdr.workflows.context import ConfigContext, default_actor, open_repo, repo_settings
from streamdr.workflows.deploy import deploy as deploy_rev
from streamdr.workflows.deployments import deployment_history
from streamdr.workflows.drift import DriftReport, gather_drift, reconcile
from streamdr.workflows.events import list_events
from streamdr.workflows.recover import recover as recover_branch
from streamdr.workflows.rollback import rollback_config
from streamdr.yamldoc import DocumentError

app = typer.Typer(
    help="The config repository: deploy, rollback, drift, recover, backup.", no_args_is_help=True
)
T = TypeVar("T")


def listing_errors(call: Callable[[], T]) -> T:
    """Run ``call``; on a validation failure print every error before the Error line."""
    try:
        return call()
    except DocumentError as exc:
        print_field_errors(exc.errors)
        raise


def _context(ctx: typer.Context) -> ConfigContext:
    st = state(ctx)
    return ConfigContext.open(st.settings(), st.store())


@app.command()
def deploy(
    ctx: typer.Context,
    rev: Annotated[
        str | None, typer.Option(help="Commit to deploy (default: branch head).")
    ] = None,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Allow deploying a tree without workflows.")
    ] = False,
    by: By = None,
    json_out: Json = False,
) -> None:
    """Validate the whole tree at REV and show the changes; record it as deployed with --execute.

    All or nothing: an invalid tree is refused with every error listed.
    """
    dry_run = not wants_execute(execute, dry_run, yes)
    cfg = _context(ctx)
    result = listing_errors(
        lambda: deploy_rev(
            cfg, rev, by or default_actor(), dry_run=dry_run, allow_empty=allow_empty
        )
    )
    if json_out:
        print_json(result.as_dict())
        if dry_run:
            print_plan_only(json_out)
        return
    plan = result.plan
    for change in plan.changes:
        out.print(f"  {change.change:<8} {literal(change.path)}")
    if dry_run:
        out.print(f"{plan.commit[:12]} is valid ({len(plan.files)} workflow files).")
        print_plan_only()
    elif result.deployment is None:
        out.print(f"{plan.commit[:12]} is already deployed.")
    else:
        d = result.deployment
        out.print(
            f"Deployed {d.commit[:12]} ({len(d.files)} workflows) by {literal(d.deployed_by)} "
            f"at {d.deployed_at:%Y-%m-%d %H:%M:%S}Z"
        )


@app.command()
def rollback(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", help="Commit whose files to restore.")] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Go back N deployments.")
    ] = None,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    by: By = None,
    json_out: Json = False,
) -> None:
    """Restore an earlier configuration as a new commit on the branch, and deploy it (--execute).

    Not `streamdr rollback` (only one workflow's transformation version).
    """
    dry_run = not wants_execute(execute, dry_run, yes)
    cfg = _context(ctx)
    result = listing_errors(
        lambda: rollback_config(cfg, by or default_actor(), to=to, steps=steps, dry_run=dry_run)
    )
    if json_out:
        print_json(result.as_dict())
        if dry_run:
            print_plan_only(json_out)
        return
    if dry_run:
        out.print(f"Would restore the files of {result.target[:12]} (valid).")
        print_plan_only()
        return
    assert result.deployment is not None
    out.print(
        f"Rolled back to the files of {result.target[:12]}: new commit "
        f"{(result.commit or '-')[:12]}, deployment {result.deployment.id}"
    )


@app.command()
def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    events: Annotated[
        bool, typer.Option("--events", help="Show every config operation with its steps.")
    ] = False,
    json_out: Json = False,
) -> None:
    """Show deployments (commit, time, who), newest first."""
    store = state(ctx).store()
    if events:
        rows: list[dict[str, Any]] = list_events(store, limit=limit)
    else:
        rows = [d.as_dict() for d in deployment_history(store, limit)]
    if json_out:
        print_json(rows)
        return
    if events:
        table = Table("id", "operation", "started", "actor", "commit", "ok")
        for r in rows:
            commit = (r["commit"] or "-")[:12]
            cells = (r["id"], r["kind"], r["started_at"], r["actor"], commit, r["ok"])
            table.add_row(*(literal(c) for c in cells))
    else:
        table = Table("id", "commit", "kind", "deployed at", "by", "workflows")
        for r in rows:
            cells = (r["id"], r["commit"][:12], r["kind"], r["deployed_at"], r["deployed_by"])
            table.add_row(*(literal(c) for c in cells), str(len(r["files"])))
    out.print(table if rows else "Nothing recorded yet.")


def _render_drift(report: DriftReport) -> None:
    out.print(
        literal(
            f"Deployed {(report.deployed_commit or '-')[:12]}, "
            f"branch head {(report.head or '-')[:12]}: {report.relation}"
        )
        + (f" by {report.ahead_by} commits" if report.ahead_by else "")
    )
    for change in report.repo_changes:
        out.print(f"  repo: {change.change:<8} {literal(change.path)} (HEAD vs deployed)")
    for action in report.live:
        done = " [applied]" if action in report.applied else ""
        line = f"{action.site}/{action.topic}: {action.kind} {dict(action.config) or ''} "
        out.print(f"  live: {literal(line + action.reason + done)}")
    for site, error in report.unreachable.items():
        out.print(f"  [red]unreachable[/] {literal(site)}: {literal(error)}")
    out.print("No drift." if not report.has_drift else "[yellow]Drift found.[/]")


@app.command()
def drift(
    ctx: typer.Context,
    do_reconcile: Annotated[
        bool, typer.Option("--reconcile", help="Apply the deployed state to the live sites.")
    ] = False,
    json_out: Json = False,
) -> None:
    """Deployed commit vs branch HEAD vs live topics; exit 1 on drift, 3 site unreachable."""
    st = state(ctx)
    report = gather_drift(st.settings(), st.store())
    if do_reconcile and report.live:
        reconcile(st.settings(), report)
    if json_out:
        print_json(report.as_dict())
    else:
        _render_drift(report)
    raise typer.Exit(3 if report.unreachable else 1 if report.has_drift else 0)


@app.command()
def recover(
    ctx: typer.Context,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    to: Annotated[str | None, typer.Option("--to", help="Restore to this commit instead.")] = None,
    to_deployed: Annotated[
        bool,
        typer.Option(
            "--to-deployed", help="Restore the last deployed commit, not newer reflog tips."
        ),
    ] = False,
    and_deploy: Annotated[
        bool, typer.Option("--deploy", help="Deploy the restored head afterwards.")
    ] = False,
    by: By = None,
    json_out: Json = False,
) -> None:
    """Scenario 3: put back commits lost to a force push or hard reset (reflog + metadata DB)."""
    execute = wants_execute(execute, dry_run, yes)
    cfg = _context(ctx)
    result = listing_errors(
        lambda: recover_branch(
            cfg,
            by or default_actor(),
            execute=execute,
            to=to,
            prefer_deployed=to_deployed,
            and_deploy=and_deploy,
        )
    )
    if json_out:
        print_json(result.as_dict())
        if result.plan.needed and not result.executed:
            print_plan_only(json_out)
    else:
        plan = result.plan
        out.print(f"{literal(plan.reason)}.")
        if plan.needed and not result.executed:
            out.print(
                f"Would move {literal(plan.branch)} from {(plan.head or '-')[:12]} to "
                f"{literal((plan.target or 'a rebuilt commit')[:12])} ({literal(plan.source)})."
            )
            print_plan_only()
        elif result.executed:
            v = result.verification
            out.print(
                f"Restored {literal(plan.branch)} to {(result.new_head or '')[:12]}; "
                f"{v.get('files')} files verified: {'ok' if v.get('ok') else 'MISMATCH'}"
            )
    if result.executed and not result.verification.get("ok"):
        raise typer.Exit(1)


def _backup_store(settings: Settings, name: str | None) -> ObjectStore:
    chosen = name or repo_settings(settings).backup_store
    if chosen is None:
        raise InputError(
            "no backup store: pass --store or set config_repo.backup_store",
            hint="Name a store from `stores:` in streamdr.yaml (an offsite s3:// one is best).",
        )
    return open_store(settings, chosen)


Store = Annotated[
    str | None, typer.Option("--store", help="Store name (default config_repo.backup_store).")
]


@app.command()
def backup(ctx: typer.Context, store: Store = None, by: By = None, json_out: Json = False) -> None:
    """Write a git bundle of the config repository plus a sha256 manifest to a store."""
    settings = state(ctx).settings()
    target = _backup_store(settings, store)
    manifest = backup_repo(open_repo(settings), target, by or default_actor())
    if json_out:
        print_json({"store": target.name, **manifest.model_dump(mode="json")})
        return
    out.print(
        f"Backed up {len(manifest.refs)} refs ({manifest.size} bytes) "
        f"to {literal(target.name)}:{literal(manifest.bundle_key)}"
    )


@app.command()
def backups(ctx: typer.Context, store: Store = None, json_out: Json = False) -> None:
    """List the config repository backups in a store, newest first."""
    target = _backup_store(state(ctx).settings(), store)
    rows = [m.model_dump(mode="json") for m in list_bundles(target)]
    if json_out:
        print_json(rows)
        return
    table = Table("bundle", "created", "head", "refs", "bytes")
    for r in rows:
        cells = (r["bundle_key"], r["created_at"], (r["head"] or "-")[:12])
        table.add_row(*(literal(c) for c in cells), str(len(r["refs"])), str(r["size"]))
    out.print(table if rows else "No backups in this store.")


@app.command("restore-bundle")
def restore_bundle_cmd(
    ctx: typer.Context,
    store: Store = None,
    bundle: Annotated[
        str | None, typer.Option("--bundle", help="Bundle key (default: newest).")
    ] = None,
    to: Annotated[
        Path | None, typer.Option("--to", help="Target directory (default config_repo.path).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Move an existing target aside and replace it.")
    ] = False,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_out: Json = False,
) -> None:
    """Rebuild the config repository from the newest (or a chosen) bundle, verified first.

    Prints which bundle would be used and where; writes the repository only with --execute.
    """
    dry_run = not wants_execute(execute, dry_run, yes)
    settings = state(ctx).settings()
    target = to or open_repo(settings, require=False).path
    result = restore_bundle(
        _backup_store(settings, store), target, key=bundle, replace=replace, execute=not dry_run
    )
    if json_out:
        print_json(result.as_dict())
        if dry_run:
            print_plan_only(json_out)
        return
    verb = "Would restore" if dry_run else "Restored"
    out.print(
        f"{verb} {literal(target)} from {literal(result.manifest.bundle_key)} "
        f"(head {literal((result.manifest.head or '-')[:12])})"
    )
    if result.moved_aside:
        out.print(f"The previous directory is kept at {literal(result.moved_aside)}")
    if dry_run:
        print_plan_only()
