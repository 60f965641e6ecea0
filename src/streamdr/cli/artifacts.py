"""`streamdr artifacts …`: publish, verify, list and retain signed transformation artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streamdr.artifacts.archiving import (
    execute_retention,
    list_versions,
    plan_artifact_retention,
    record_artifact_event,
    restore_from_archive,
)
from streamdr.artifacts.publish import publish_artifact
from streamdr.artifacts.registry import verify_stored
from streamdr.artifacts.service import (
    artifact_settings,
    open_archive,
    open_registry,
    parse_ref,
    trusted_keys,
)
from streamdr.cli.options import (
    DryRun,
    Execute,
    Json,
    Yes,
    optional_time,
    print_plan_only,
    wants_execute,
)
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError
from streamdr.workflows.context import default_actor

app = typer.Typer(
    help="Signed transformation artifacts: publish, verify, list, retention.", no_args_is_help=True
)


@app.command()
def publish(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The transformation's directory.")],
    name: Annotated[str, typer.Option("--name", help="Artifact name (lower-case, '-').")],
    version: Annotated[str, typer.Option("--version", help="Exact semantic version.")],
    entry_point: Annotated[
        str | None,
        typer.Option(help="module:callable (default transform:transform or <package>:transform)."),
    ] = None,
    key: Annotated[
        Path | None, typer.Option(help="Private key (default artifacts.signing_key).")
    ] = None,
    json_out: Json = False,
) -> None:
    """Package, sign and publish DIR as NAME@VERSION (an existing version is refused)."""
    st = state(ctx)
    settings = st.settings()
    manifest = publish_artifact(
        settings, directory, name, version, entry_point=entry_point, key_path=key
    )
    record_artifact_event(
        st.store(),
        name,
        version,
        "publish",
        default_actor(),
        artifact_settings(settings).registry_store,
        {"sha256": manifest.sha256, "signer_key_id": manifest.signer_key_id},
    )
    if json_out:
        print_json(manifest.model_dump(mode="json"))
        return
    out.print(
        literal(
            f"Published {manifest.ref} ({manifest.size} bytes, sha256 {manifest.sha256[:16]}…, "
            f"entry point {manifest.entry_point}, signed by {manifest.signer_key_id})"
        )
    )


@app.command()
def verify(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    archive: Annotated[
        bool, typer.Option("--archive", help="Verify the copy in the archive store.")
    ] = False,
    json_out: Json = False,
) -> None:
    """Check signature and digest of NAME@VERSION; exit 2 when it is refused."""
    settings = state(ctx).settings()
    name, version = parse_ref(ref)
    registry = open_archive(settings) if archive else open_registry(settings)
    if registry is None:
        raise InputError("artifacts.archive_store is not set", hint="Drop --archive.")
    manifest = verify_stored(registry.read(name, version), trusted_keys(settings))
    doc = {
        "artifact": manifest.ref,
        "verified": True,
        "store": registry.name,
        "sha256": manifest.sha256,
        "signer_key_id": manifest.signer_key_id,
        "created_at": manifest.created_at.isoformat(),
        "entry_point": manifest.entry_point,
    }
    if json_out:
        print_json(doc)
        return
    out.print(
        literal(
            f"{manifest.ref}: verified (signed by {manifest.signer_key_id}, sha256 "
            f"{manifest.sha256[:16]}…, store {registry.name})"
        )
    )


@app.command("list")
def list_artifacts(ctx: typer.Context, json_out: Json = False) -> None:
    """List every version in the registry and the archive."""
    st = state(ctx)
    rows = list_versions(st.settings(), st.store())
    if json_out:
        print_json(rows)
        return
    table = Table("artifact", "location", "created", "signer", "referenced")
    for r in rows:
        cells = (r["artifact"], r["location"], r["created_at"], r["signer_key_id"])
        table.add_row(*(literal(c) for c in cells), "yes" if r["referenced"] else "no")
    out.print(table if rows else "No artifacts published yet.")


@app.command("apply-retention")
def apply_retention(
    ctx: typer.Context,
    now: Annotated[
        str | None, typer.Option(help="Evaluate as of this ISO time (default: now).")
    ] = None,
    execute: Execute = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_out: Json = False,
) -> None:
    """Archive unreferenced versions after 90 days; delete archived ones after 7 years.

    Prints the plan; moves and deletes only with --execute.
    """
    act = wants_execute(execute, dry_run, yes)
    at = optional_time(now, "--now")
    st = state(ctx)
    run = plan_artifact_retention(st.settings(), st.store(), at)
    if act:
        execute_retention(st.settings(), st.store(), run, default_actor())
    if json_out:
        print_json(run.as_dict())
        if not act:
            print_plan_only(json_out)
        return
    table = Table("artifact", "location", "action", "reason", "next due")
    for a in run.actions:
        due = a.next_due.isoformat() if a.next_due else "-"
        cells = (f"{a.name}@{a.version}", a.location, a.kind, a.reason, due)
        table.add_row(*(literal(c) for c in cells))
    out.print(table if run.actions else "No artifacts stored.")
    if act:
        out.print(f"Applied {len(run.done)} actions.")
    else:
        print_plan_only()


@app.command()
def restore(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    json_out: Json = False,
) -> None:
    """Copy an archived version back into the registry (so it can be deployed again)."""
    st = state(ctx)
    name, version = parse_ref(ref)
    restore_from_archive(st.settings(), st.store(), name, version, default_actor())
    if json_out:
        print_json({"artifact": ref, "restored": True})
        return
    out.print(f"{literal(ref)} restored into the registry from the archive")
