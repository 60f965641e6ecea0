"""YAML documents that remember where every value came from.

Settings and workflow files are parsed with ruamel.yaml's round-trip loader so that a validation
error can name ``file:line:column`` and the field path. Pydantic errors are mapped back onto the
document with :func:`field_errors`.

Workflow files arrive with git pushes, so every document is hostile until proven otherwise: it is
at most :data:`MAX_DOCUMENT_BYTES`, nested at most :data:`MAX_DEPTH` deep, and may use neither
anchors/aliases (a few hundred bytes of aliases expand to billions of nodes) nor explicit tags
(``!!python/…``, ``!custom``; even ``!!str`` would reach the models as an unconverted object).
These limits are checked on the parser's event stream, before any node is built.
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
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    NodeEvent,
)

from streamdr.errors import InputError

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DEPTH = 64
_LIMIT_HINT = (
    "Write the value out in full: streamdr documents allow no anchors, aliases or tags, "
    f"at most {MAX_DOCUMENT_BYTES // 1024} KiB and {MAX_DEPTH} levels of nesting."
)


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

    Raises DocumentError naming the line of a syntax error, a duplicate key, an anchor, alias or
    explicit tag, nesting deeper than MAX_DEPTH, or a document larger than MAX_DOCUMENT_BYTES.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            [FieldError(source, 1, 1, "", f"larger than {MAX_DOCUMENT_BYTES} bytes")],
            hint=_LIMIT_HINT,
        )
    try:
        problems = _unsafe_constructs(_yaml().parse(StringIO(text)), source)
        if problems:
            raise DocumentError(problems, hint=_LIMIT_HINT)
        return _yaml().load(StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise DocumentError(
            [FieldError(source, line, col, "", f"YAML syntax: {problem}")],
            hint="Fix the YAML syntax at that position (indentation, quoting, duplicate keys).",
        ) from exc
    except YAMLError as exc:
        # Reader errors (e.g. control characters) carry no mark; say what ruamel said.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise DocumentError(
            [FieldError(source, 1, 1, "", f"YAML syntax: {first}")],
            hint="Fix the YAML text (it must be printable UTF-8).",
        ) from exc


def _unsafe_constructs(events: Iterable[Event], source: str) -> list[FieldError]:
    """Return an error for every anchor, alias and explicit tag, and for too deep nesting.

    Stops at the first nesting error: deeper events would only repeat it.
    """
    errors: list[FieldError] = []
    depth = 0
    for event in events:
        line, col = event.start_mark.line + 1, event.start_mark.column + 1
        if isinstance(event, AliasEvent):
            errors.append(FieldError(source, line, col, "", "YAML aliases are not allowed"))
        elif isinstance(event, NodeEvent) and event.anchor is not None:
            errors.append(FieldError(source, line, col, "", "YAML anchors are not allowed"))
        tag = getattr(event, "tag", None)
        if tag is not None:
            errors.append(
                FieldError(source, line, col, "", f"YAML tag {str(tag)!r} is not allowed")
            )
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                errors.append(FieldError(source, line, col, "", f"nested deeper than {MAX_DEPTH}"))
                break
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    return errors


def decode_yaml_bytes(data: bytes, source: str) -> str:
    """Return ``data`` decoded as UTF-8.

    Raises DocumentError for a document over MAX_DOCUMENT_BYTES or bytes that are not UTF-8
    (naming the line of the first bad byte).
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            [FieldError(source, 1, 1, "", f"larger than {MAX_DOCUMENT_BYTES} bytes")],
            hint=_LIMIT_HINT,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DocumentError(
            [FieldError(source, line, 1, "", f"not UTF-8 text ({exc.reason})")],
            hint="Save the file as UTF-8.",
        ) from exc


def read_yaml_text(path: Path) -> str:
    """Return the text of the YAML file ``path``.

    Raises InputError if it cannot be read, DocumentError if it is too large or not UTF-8.
    """
    try:
        with path.open("rb") as fh:
            # Read one byte past the limit: enough to know it is too large, never more.
            data = fh.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InputError(
            f"cannot read {path}: {exc.strerror}", hint="Check the path and its permissions."
        ) from exc
    return decode_yaml_bytes(data, str(path))


def read_yaml(path: Path) -> Any:
    """Return the round-trip document in ``path``; raises InputError (or DocumentError)."""
    return parse_yaml(read_yaml_text(path), str(path))


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
