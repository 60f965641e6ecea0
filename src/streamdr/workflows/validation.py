"""Validating a set of workflow files: schema, file layout and cross-references, every error.

Cross-references: the source database is named in the settings' ``sources``, the transformation
``name@version`` exists in the registry and verifies, and no two files share a workflow name.
Nothing stops at the first problem; the result lists all of them with file:line:column.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamdr.errors import InputError
from streamdr.workflows.documents import SUFFIXES, WorkflowDoc, layout_errors, parse_workflow
from streamdr.workflows.model import Workflow
from streamdr.workflows.repo import WORKFLOWS_DIR
from streamdr.yamldoc import FieldError

# (name, version) -> None when the artifact exists and verifies, else why not.
ArtifactCheck = Callable[[str, str], str | None]


@dataclass(frozen=True)
class SourceFile:
    """A file to validate: where to report it, its tree path (None: no layout rule), bytes."""

    shown: str
    tree_path: str | None
    content: bytes | str


@dataclass
class TreeValidation:
    """The outcome of validating files together."""

    docs: list[WorkflowDoc] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when no file has an error."""
        return not self.errors

    @property
    def workflows(self) -> list[Workflow]:
        """Return the valid workflows, sorted by name."""
        return sorted((d.workflow for d in self.docs if d.workflow), key=lambda w: w.name)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping."""
        return {
            "valid": self.ok,
            "files": len(self.docs),
            "workflows": [w.name for w in self.workflows],
            "errors": [e.as_dict() for e in self.errors],
        }


def validate_files(
    files: Iterable[SourceFile],
    *,
    sources: Collection[str] | None = None,
    check_artifact: ArtifactCheck | None = None,
) -> TreeValidation:
    """Return every schema, layout and cross-reference error of ``files``.

    ``sources`` None skips the source check; ``check_artifact`` None skips the registry check.
    """
    result = TreeValidation()
    for f in files:
        doc = parse_workflow(f.content, f.shown)
        result.docs.append(doc)
        result.errors += doc.errors
        if f.tree_path is not None:
            result.errors += layout_errors(doc, f.tree_path)
    result.errors += duplicate_name_errors(result.docs)
    if sources is not None:
        result.errors += source_errors(result.docs, sources)
    if check_artifact is not None:
        result.errors += artifact_errors(result.docs, check_artifact)
    result.errors.sort(key=lambda e: (e.source, e.line, e.column, e.field))
    return result


def duplicate_name_errors(docs: list[WorkflowDoc]) -> list[FieldError]:
    """Return an error on every file whose workflow name an earlier file already uses."""
    seen: dict[str, str] = {}
    errors = []
    for doc in docs:
        if doc.name is None:
            continue
        first = seen.setdefault(doc.name, doc.path)
        if first != doc.path:
            errors.append(
                doc.error_at(("name",), f"workflow name {doc.name!r} is already used by {first}")
            )
    return errors


def source_errors(docs: list[WorkflowDoc], sources: Collection[str]) -> list[FieldError]:
    """Return an error for every workflow whose source database is not in the settings."""
    known = ", ".join(sorted(sources)) or "none"
    return [
        doc.error_at(
            ("source", "database"),
            f"source database {doc.database!r} is not in streamdr.yaml `sources` (known: {known})",
        )
        for doc in docs
        if doc.database and doc.database not in sources
    ]


def artifact_errors(docs: list[WorkflowDoc], check: ArtifactCheck) -> list[FieldError]:
    """Return an error for every workflow whose artifact is missing or fails verification."""
    verdicts: dict[tuple[str, str], str | None] = {}
    errors = []
    for doc in docs:
        if doc.transformation is None:
            continue
        key = (doc.transformation.name, doc.transformation.version)
        if key not in verdicts:
            verdicts[key] = check(*key)
        if verdicts[key]:
            errors.append(doc.error_at(("transformation", "version"), str(verdicts[key])))
    return errors


def files_on_disk(paths: Iterable[Path]) -> list[SourceFile]:
    """Return the workflow files named by ``paths`` (files, or directories searched for YAML).

    A file inside a ``workflows/`` directory is also held to the ``workflows/<client>/<name>``
    layout. Raises InputError for a path that does not exist or holds no YAML file.
    """
    found: list[SourceFile] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise InputError(f"{path} does not exist", hint="Pass workflow files or directories.")
        if not files:
            raise InputError(
                f"{path} holds no .yaml files", hint="Pass workflow files or directories."
            )
        for file in files:
            try:
                content = file.read_bytes()
            except OSError as exc:
                raise InputError(
                    f"cannot read {file}: {exc.strerror}", hint="Check permissions."
                ) from exc
            found.append(SourceFile(str(file), _tree_path(file), content))
    return found


def _tree_path(file: Path) -> str | None:
    parts = file.resolve().parts
    if WORKFLOWS_DIR not in parts:
        return None
    start = len(parts) - 1 - parts[::-1].index(WORKFLOWS_DIR)
    return "/".join(parts[start:])
