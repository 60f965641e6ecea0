"""Workflow files: parse one YAML document into a Workflow, collecting every error with its place.

A config tree keeps one workflow per file at ``workflows/<client>/<name>.yaml``; the client
directory and the file name must match the ``client`` and ``name`` fields, so a file can be
found from the workflow and vice versa.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import ValidationError

from streamdr.workflows.model import NAME, TransformationRef, Workflow
from streamdr.workflows.repo import WORKFLOWS_DIR
from streamdr.yamldoc import DocumentError, FieldError, field_errors, locate, parse_yaml, to_plain

SUFFIXES = (".yaml", ".yml")


@dataclass
class WorkflowDoc:
    """One parsed workflow file: the model if valid, the YAML document, and its errors."""

    path: str
    doc: Any = None
    workflow: Workflow | None = None
    errors: list[FieldError] = field(default_factory=list)
    # What could be read from an invalid file, so its cross-references are checked too.
    name: str | None = None
    client: str | None = None
    transformation: TransformationRef | None = None
    database: str | None = None

    def error_at(self, loc: tuple[str | int, ...], message: str) -> FieldError:
        """Return a FieldError positioned on field ``loc`` of this document."""
        line, col = locate(self.doc, loc)
        dotted = ".".join(str(p) for p in loc)
        return FieldError(self.path, line, col, dotted, message)


def is_workflow_path(path: str) -> bool:
    """Return True for a YAML file below ``workflows/`` in a config tree."""
    p = PurePosixPath(path)
    return bool(p.parts) and p.parts[0] == WORKFLOWS_DIR and p.suffix in SUFFIXES


def parse_workflow(text: str | bytes, source: str) -> WorkflowDoc:
    """Return the parsed file; problems are collected in ``errors``, never raised."""
    result = WorkflowDoc(source)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            result.errors.append(FieldError(source, 1, 1, "", f"not UTF-8 text ({exc.reason})"))
            return result
    try:
        result.doc = parse_yaml(text, source)
    except DocumentError as exc:
        result.errors.extend(exc.errors)
        return result
    if not isinstance(result.doc, dict):
        result.errors.append(
            FieldError(source, 1, 1, "", "expected a mapping with name, client, tier, …")
        )
        return result
    plain = to_plain(result.doc)
    try:
        result.workflow = Workflow.model_validate(plain)
    except ValidationError as exc:
        result.errors.extend(field_errors(exc, result.doc, source))
    _fill_references(result, plain)
    return result


def _fill_references(result: WorkflowDoc, plain: dict[str, Any]) -> None:
    """Set name, transformation and database from the model, else from the valid parts."""
    wf = result.workflow
    if wf is not None:
        result.name, result.client, result.transformation = wf.name, wf.client, wf.transformation
        result.database = wf.source.database
        return
    name, client = plain.get("name"), plain.get("client")
    result.name = name if isinstance(name, str) and NAME.match(name) else None
    result.client = client if isinstance(client, str) and NAME.match(client) else None
    with contextlib.suppress(ValidationError):
        result.transformation = TransformationRef.model_validate(plain.get("transformation"))
    source = plain.get("source")
    database = source.get("database") if isinstance(source, dict) else None
    result.database = database if isinstance(database, str) else None


def layout_errors(doc: WorkflowDoc, path: str) -> list[FieldError]:
    """Return errors when ``path`` is not ``workflows/<client>/<name>.yaml`` of its workflow.

    Only valid ``name``/``client`` values are compared (invalid ones already have an error).
    """
    parts = PurePosixPath(path).parts
    if len(parts) != 3:
        where = f"{WORKFLOWS_DIR}/{doc.client or '<client>'}/{doc.name or '<name>'}.yaml"
        return [doc.error_at(("name",), f"file must be {where}")]
    errors = []
    if doc.client is not None and parts[1] != doc.client:
        errors.append(
            doc.error_at(
                ("client",), f"client {doc.client!r} does not match directory {parts[1]!r}"
            )
        )
    if doc.name is not None and PurePosixPath(parts[2]).stem != doc.name:
        errors.append(
            doc.error_at(("name",), f"name {doc.name!r} does not match file name {parts[2]!r}")
        )
    return errors
