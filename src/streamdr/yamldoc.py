"""YAML documents that remember where every value came from.

Settings and workflow files are parsed with ruamel.yaml's round-trip loader so that a validation
error can name ``file:line:column`` and the field path. Pydantic errors are mapped back onto the
document with :func:`field_errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from streamdr.errors import InputError


@dataclass(frozen=True)
class FieldError:
    """One problem in one file, with a 1-based position and the dotted field path."""

    source: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready mapping."""
        return {
            "file": self.source,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class DocumentError(InputError):
    """One or more field errors found in YAML documents; the message lists every one."""

    def __init__(self, errors: Sequence[FieldError], *, hint: str | None = None) -> None:
        first = str(errors[0]) if errors else "invalid document"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more, hint=hint)
        self.errors = list(errors)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse_yaml(text: str, source: str) -> Any:
    """Return the round-trip document parsed from ``text``.

    Raises DocumentError naming the line of a syntax error or a duplicate key.
    """
    try:
        return _yaml().load(StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise DocumentError(
            [FieldError(source, line, col, "", f"YAML syntax: {problem}")],
            hint="Fix the YAML syntax at that position (indentation, quoting, duplicate keys).",
        ) from exc


def read_yaml(path: Path) -> Any:
    """Return the round-trip document in ``path``; raises InputError if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot read {path}: {exc.strerror}", hint="Check the path and its permissions."
        ) from exc
    return parse_yaml(text, str(path))


def to_plain(node: Any) -> Any:
    """Return ``node`` with ruamel containers converted to plain dicts and lists."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


def locate(doc: Any, path: Iterable[str | int]) -> tuple[int, int]:
    """Return the 1-based (line, column) of the deepest node of ``path`` present in ``doc``."""
    line, col = 1, 1
    node = doc
    if isinstance(node, CommentedMap | CommentedSeq):
        line, col = node.lc.line + 1, node.lc.col + 1
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line, col = (x + 1 for x in node.lc.key(part))
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = (x + 1 for x in node.lc.item(part))
            node = node[part]
        else:
            break
    return line, col


def dotted(path: Iterable[str | int]) -> str:
    """Return ``("sites", "dr", 0)`` as ``sites.dr[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def field_errors(exc: ValidationError, doc: Any, source: str) -> list[FieldError]:
    """Return one FieldError per pydantic error, positioned on ``doc``."""
    errors = []
    for err in exc.errors(include_url=False):
        # pydantic adds pseudo-locations for validators and dict keys; they name no YAML node.
        loc = [
            p
            for p in err["loc"]
            if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
        ]
        line, col = locate(doc, loc)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        errors.append(FieldError(source, line, col, dotted(loc), message))
    return errors
