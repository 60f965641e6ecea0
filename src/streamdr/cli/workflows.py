"""`streamdr workflows …`: validate workflow files, export their JSON Schema, list them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.options import Json
from streamdr.cli.render import err, literal, out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError
from streamdr.fsutil import atomic_write_text
from streamdr.settings.model import Settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.context import ConfigContext, open_repo, registry_check
from streamdr.workflows.deployments import deployed_workflows
from streamdr.workflows.model import Workflow
from streamdr.workflows.repo import WORKFLOWS_DIR
from streamdr.workflows.schema import workflow_json_schema
from streamdr.workflows.validation import (
    SourceFile,
    TreeValidation,
    files_on_disk,
    validate_files,
)
from streamdr.yamldoc import FieldError

app = typer.Typer(help="Workflow configs: validate, JSON Schema, list.", no_args_is_help=True)


def print_field_errors(errors: Sequence[FieldError]) -> None:
    """Print every error as ``file:line:column: field: message`` on stderr."""
    for error in errors:
        err.print(f"  {error}", markup=False, highlight=False)


def invalid(validation: TreeValidation) -> InputError:
    """Return the one-line error summarising a failed validation (details printed before)."""
    files = len({e.source for e in validation.errors})
    return InputError(
        f"{len(validation.errors)} errors in {files} of {len(validation.docs)} workflow files",
        hint="Fix every error listed above (file:line:column: field: message); "
        "`streamdr workflows schema` prints the format.",
    )


def _default_paths(settings: Settings | None) -> list[Path]:
    if settings is not None and settings.config_repo is not None:
        repo = open_repo(settings, require=False)
        return [repo.path / WORKFLOWS_DIR]
    return [Path.cwd() / WORKFLOWS_DIR]


def _optional_settings(ctx: typer.Context) -> Settings | None:
    try:
        return state(ctx).settings()
    except InputError:
        return None


def _files_at(settings: Settings, store: MetadataStore, rev: str) -> list[SourceFile]:
    cfg = ConfigContext(settings, store, open_repo(settings), None)
    commit = cfg.repo.resolve(rev)
    return [SourceFile(f"{commit[:12]}:{p}", p, b) for p, b in cfg.workflow_files(commit).items()]


def _files_to_validate(
    ctx: typer.Context, paths: list[Path] | None, rev: str | None, settings: Settings | None
) -> list[SourceFile]:
    """Return PATHS, the files of REV, or by default the repo's work tree (its branch if bare)."""
    st = state(ctx)
    if rev is not None:
        return _files_at(st.settings(), st.store(), rev)
    if paths:
        return files_on_disk(paths)
    settings = settings or _optional_settings(ctx)
    if settings is not None and settings.config_repo is not None:
        repo = open_repo(settings)
        if not (repo.path / WORKFLOWS_DIR).is_dir() and repo.is_bare():
            return _files_at(settings, st.store(), repo.branch)
    return files_on_disk(_default_paths(settings))


@app.command()
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or directories (default: the config repo's workflows/)."),
    ] = None,
    schema_only: Annotated[
        bool,
        typer.Option("--schema-only", help="Skip cross-references (sources, artifacts)."),
    ] = False,
    rev: Annotated[
        str | None,
        typer.Option(help="Validate this commit of the config repository instead of files."),
    ] = None,
    json_out: Json = False,
) -> None:
    """Report every error with file:line:column and field path; exit 2 on any error."""
    st = state(ctx)
    settings = None if schema_only else st.settings()
    files = _files_to_validate(ctx, paths, rev, settings)
    validation = validate_files(
        files,
        sources=set(settings.sources) if settings else None,
        check_artifact=registry_check(settings) if settings else None,
    )
    if json_out:
        print_json(validation.as_dict())
    if not validation.ok:
        if not json_out:
            print_field_errors(validation.errors)
        raise invalid(validation)
    if not json_out:
        out.print(
            f"{len(validation.docs)} workflow files valid: "
            f"{literal(', '.join(w.name for w in validation.workflows))}"
        )


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of a workflow file."""
    text = json.dumps(workflow_json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    atomic_write_text(output, text, mode=0o644)  # a public document, not a secret
    out.print(f"Wrote {literal(output)}")


def _row(wf: Workflow) -> dict[str, object]:
    return {
        "name": wf.name,
        "client": wf.client,
        "tier": str(wf.tier),
        "rto_seconds": wf.effective_rto.total_seconds(),
        "rpo_seconds": wf.effective_rpo.total_seconds(),
        "transformation": f"{wf.transformation.name}@{wf.transformation.version}",
        "source": wf.source.topic or f"{wf.source.database}: {', '.join(wf.source.tables)}",
        "sink": wf.sink.url or wf.sink.topic,
        "delivery": wf.delivery.guarantee,
    }


@app.command("list")
def list_workflows(
    ctx: typer.Context,
    head: Annotated[
        bool, typer.Option("--head", help="The branch head's workflows instead of the deployed.")
    ] = False,
    json_out: Json = False,
) -> None:
    """List the deployed workflows (or, with --head, those on the branch)."""
    st = state(ctx)
    settings = st.settings()
    if head:
        cfg = ConfigContext(settings, st.store(), open_repo(settings), None)
        commit = cfg.repo.resolve(cfg.repo.branch)
        workflows = cfg.validate(cfg.workflow_files(commit), commit[:12]).workflows
    else:
        workflows = deployed_workflows(settings, st.store())
    rows = [_row(w) for w in workflows]
    if json_out:
        print_json(rows)
        return
    table = Table("workflow", "client", "tier", "RTO s", "RPO s", "transformation", "source")
    for r in rows:
        rto, rpo = f"{r['rto_seconds']:.0f}", f"{r['rpo_seconds']:.0f}"
        cells = (r["name"], r["client"], r["tier"], rto, rpo, r["transformation"], r["source"])
        table.add_row(*(literal(c) for c in cells))
    out.print(table if rows else "No workflows deployed (`streamdr config deploy`).")
