"""Every `streamdr …` command in README.md, docs/ and docs/runbooks/ parses with the real CLI.

Commands are taken from fenced code blocks (lines starting with ``streamdr`` or ``$ streamdr``)
and from inline code, then parsed by the typer app's own click parser, group by group, without
running anything. Synopsis forms are understood: ``[optional]`` parts are kept (so they must be
valid too), ``a|b`` lists sub-commands or an option's values, placeholders (SITE, N, T,
WORKFLOW, <…>) stand for a value, ``…`` stands for nothing. Inline code that only names a
command (``streamdr cdc run``, ``streamdr lab up|down``) must name existing commands; anything
with arguments, and every code-block line, must parse completely. A doc can therefore never
again show a flag the CLI does not have, or leave out a required option or its value. Every
command and group's ``--help`` must also render.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from streamdr.cli.app import app

click_usage_error = typer._click.exceptions.UsageError  # the parser's own error type

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs" / "runbooks").glob("*.md")),
]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`")
ANGLE = re.compile(r"<[^<>]*>")
LIST_TAIL = re.compile(r"\[,[^\]]*\]")
# An all-capitals word (with digits, dots, dashes) stands for a value: SITE, N, T2, X.Y.Z.
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_.-]*…?$")
SHELL_END = {"|", "||", "&&", ";", ">", ">>", "2>&1", "&"}
ROOT_COMMAND = get_command(app)


@dataclass(frozen=True)
class DocCommand:
    """One `streamdr …` command as written in a doc, and where."""

    where: str
    text: str
    inline: bool


def _as_command(code: str) -> str | None:
    """Return inline ``code`` as a `streamdr …` command, None when it is not one.

    ``dlq list --json`` counts too: prose often drops the ``streamdr`` of a group's sub-command.
    """
    if code.startswith("streamdr ") or code == "streamdr":
        return code
    words = code.split()
    group = ROOT_COMMAND.commands.get(words[0]) if words else None
    subs = getattr(group, "commands", None) or {}
    return f"streamdr {code}" if len(words) > 1 and words[1] in subs else None


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def doc_commands() -> Iterator[DocCommand]:
    """Yield every `streamdr …` command of the docs, from code blocks and inline code."""
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        for block in FENCE.finditer(text):
            body = re.sub(r"\\\n\s*", " ", block.group(1))
            for offset, line in enumerate(body.splitlines()):
                cmd = line.removeprefix("$ ")
                if cmd.startswith("streamdr ") or cmd == "streamdr":
                    where = f"{name}:{_line_of(text, block.start(1)) + offset}"
                    yield DocCommand(where, cmd, inline=False)
        prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        for code in INLINE.finditer(prose):
            cmd = _as_command(code.group(1).replace("\n", " "))
            if cmd is not None:
                yield DocCommand(f"{name}:{_line_of(prose, code.start())}", cmd, inline=True)


@dataclass(frozen=True)
class Argv:
    """The arguments of one doc command and which of them stand for a placeholder."""

    args: tuple[str, ...]
    placeholders: frozenset[int] = frozenset()


def _tokens(text: str) -> list[str]:
    """Return the words of a doc command: brackets opened, shell and "…" cut off."""
    text = LIST_TAIL.sub("", ANGLE.sub("PLACEHOLDER", text))  # T[,T…] is one value
    text = text.replace("[", " ").replace("]", " ")
    words: list[str] = []
    for token in shlex.split(text, comments=True)[1:]:
        if token in SHELL_END:
            break
        token = token.removesuffix("…")
        if token:  # "…" alone means "and so on", not a value
            words.append(token)
    return words


def _argvs(words: list[str]) -> list[Argv]:
    """Return one argv per alternative: ``--format a|b`` takes ``a``, ``up|down`` is two."""
    args: list[str] = []
    holes: set[int] = set()
    for i, word in enumerate(words):
        if "|" in word and not (i and words[i - 1].startswith("-")):
            return [
                a for alt in word.split("|") for a in _argvs([*words[:i], alt, *words[i + 1 :]])
            ]
        word = word.split("|")[0]
        if PLACEHOLDER.match(word):
            word = "1"  # a valid int, str or path; a choice is judged in test_doc_command_parses
            holes.add(i)
        args.append(word)
    return [Argv(tuple(args), frozenset(holes))]


def _command_path(words: list[str], *, groups_only: bool) -> list[str]:
    """Return the leading command names of ``words`` (only the groups with ``groups_only``)."""
    cmd, path = ROOT_COMMAND, []
    for token in words:
        sub = getattr(cmd, "commands", {}).get(token)
        if sub is None or (groups_only and not getattr(sub, "commands", None)):
            break
        cmd, path = sub, [*path, token]
    return path


def expand(text: str) -> list[Argv]:
    """Return the argv of each alternative of a doc command (``lab up\\|down`` is two).

    In a table cell ``a\\|b`` lists sub-commands of the first part's group, or, when ``b``
    starts with ``-``, other options of the first part's command.
    """
    parts = text.split("\\|")
    first = _tokens(parts[0])
    alternatives = [first]
    for part in parts[1:]:
        path = _command_path(first, groups_only=not part.strip().startswith("-"))
        alternatives.append(path + _tokens("streamdr " + part))
    return [argv for words in alternatives for argv in _argvs(words)]


def names_only(argv: Argv) -> bool:
    """Return True when ``argv`` is only command names (inline prose naming a command)."""
    cmd: object = ROOT_COMMAND
    for word in argv.args:
        cmd = getattr(cmd, "commands", {}).get(word)
        if cmd is None:
            return False
    return True


def parse(argv: list[str] | tuple[str, ...]) -> None:
    """Parse ``argv`` group by group as `streamdr` would, without invoking any command.

    Raises the click usage error of the first command that rejects its arguments.
    """
    cmd = ROOT_COMMAND
    if not argv:
        return
    ctx = cmd.make_context("streamdr", list(argv), resilient_parsing=False)
    while getattr(cmd, "commands", None):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return  # the group's options only
        name, cmd, args = cmd.resolve_command(ctx, rest)
        if not args and getattr(cmd, "commands", None):
            return  # a bare group names the group (its help lists the commands)
        ctx = cmd.make_context(name, args, parent=ctx, resilient_parsing=False)
    _no_flag_as_value(ctx)


def _no_flag_as_value(ctx: typer.Context) -> None:
    """Raise UsageError when an option swallowed a flag (``--url --json``: --url has no value)."""
    flags = {o for p in ctx.command.params for o in [*p.opts, *p.secondary_opts]}
    for name, value in ctx.params.items():
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, str) and v in flags:
                raise click_usage_error(f"--{name.replace('_', '-')} has no value (took {v})", ctx)


def _placeholder_value(exc: Exception, argv: Argv) -> bool:
    """Return True when ``exc`` rejects only a placeholder (``--tier T`` for a choice)."""
    param = getattr(exc, "param", None)
    if param is None or type(exc).__name__ != "BadParameter":
        return False
    opts = set(getattr(param, "opts", ()))
    return any(
        i in argv.placeholders and argv.args[i - 1] in opts for i in range(1, len(argv.args))
    )


ALL = list(doc_commands())


def test_the_docs_have_commands_to_check():
    assert len(ALL) > 100
    assert any("runbooks" in c.where for c in ALL)


@pytest.mark.parametrize("doc", ALL, ids=[f"{c.where} {c.text[:60]}" for c in ALL])
def test_doc_command_parses(doc: DocCommand):
    for argv in expand(doc.text):
        if doc.inline and names_only(argv):
            continue  # prose naming a command: it exists
        try:
            parse(argv.args)
        except typer.Exit:
            pass  # --help / --version: valid, they only print
        except Exception as exc:  # any rejection is reported with the doc's line
            if _placeholder_value(exc, argv):
                continue
            message = getattr(exc, "format_message", lambda e=exc: str(e))()
            pytest.fail(f"{doc.where}: `{doc.text}` does not parse: {message}")


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("streamdr failover --resume-run 3", "No such option"),
        ("streamdr restore … --target offsite", "Missing option '--topic'"),
        ("streamdr endpoint stats [--url]", "requires an argument"),
        ("streamdr dlq list --json", "Missing argument"),
        ("streamdr offsets rewnd --group G", "No such command"),
    ],
)
def test_a_wrong_flag_or_a_missing_value_is_caught(bad: str, why: str):
    with pytest.raises(Exception) as caught:
        for argv in expand(bad):
            parse(argv.args)
    assert why in caught.value.format_message()  # type: ignore[attr-defined]


def test_synopsis_forms_are_understood():
    assert [a.args for a in expand("streamdr lab up\\|down")] == [("lab", "up"), ("lab", "down")]
    assert [a.args for a in expand("streamdr dlq list|replay W")] == [
        ("dlq", "list", "1"),
        ("dlq", "replay", "1"),
    ]
    (argv,) = expand("streamdr dlq replay W --since <outage start> [--json] | jq .")
    assert argv.args == ("dlq", "replay", "1", "--since", "1", "--json")
    assert argv.placeholders == {2, 4}
    (render,) = expand("streamdr replicate render --format properties|strimzi [--topics T…]")
    assert render.args == ("replicate", "render", "--format", "properties", "--topics", "1")


def _all_commands(cmd: object, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _all_commands(sub, [*path, name])


@pytest.mark.parametrize(
    "path", list(_all_commands(ROOT_COMMAND, [])), ids=lambda p: " ".join(p) or "streamdr"
)
def test_help_renders(path: list[str]):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "<bool>" not in result.output
