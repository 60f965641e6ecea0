"""The typer application and the process entry point (error → ``Error:``/``Hint:`` + exit code)."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from streamdr import __version__
from streamdr.cli import (
    artifacts,
    backup,
    cdc,
    check,
    config,
    cost,
    demo,
    dlq,
    drill,
    endpoint,
    failover,
    keys,
    lab,
    offsets,
    replicate,
    restore,
    rollback,
    run,
    topics,
    workflows,
)
from streamdr.cli.render import print_error
from streamdr.cli.state import CliState
from streamdr.errors import StreamdrError

app = typer.Typer(
    name="streamdr",
    help="Disaster recovery for Kafka streaming platforms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(lab.app, name="lab")
app.add_typer(topics.app, name="topics")
app.add_typer(drill.app, name="drill")
app.add_typer(workflows.app, name="workflows")
app.add_typer(config.app, name="config")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(keys.app, name="keys")
app.command("rollback")(rollback.rollback)
app.add_typer(cdc.app, name="cdc")
app.add_typer(dlq.app, name="dlq")
app.add_typer(endpoint.app, name="endpoint")
app.add_typer(demo.app, name="demo")
app.command("run")(run.run)
app.command("check")(check.check)
app.add_typer(backup.app, name="backup")
app.command("restore")(restore.restore)
app.add_typer(offsets.app, name="offsets")
app.add_typer(replicate.app, name="replicate")
app.command("failover")(failover.failover)
app.command("failback")(failover.failback)
app.command("cost", rich_help_panel="Config")(cost.cost)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamdr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Settings file (default: $STREAMDR_CONFIG, ./streamdr.yaml, then the lab's).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details to stderr.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Disaster recovery for Kafka streaming platforms."""
    ctx.obj = CliState(config=config, verbose=verbose)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("streamdr.librdkafka").setLevel(logging.CRITICAL)


DEBUG_ENV = "STREAMDR_DEBUG"


def _internal_error(exc: Exception) -> None:
    """Print an unexpected exception as one Error/Hint pair (the traceback only when debugging)."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc)
    print_error(
        StreamdrError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint=f"This is a bug in streamdr; run again with {DEBUG_ENV}=1 to see the traceback "
            "and report it.",
        )
    )


def main() -> None:
    """Run the CLI and exit with streamdr's exit codes (0 ok, 1 failed, 2 input, 3 unreachable)."""
    try:
        code = app(standalone_mode=False)
    except StreamdrError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        print_error(StreamdrError("interrupted", hint="Run the command again to resume."))
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors from the (vendored) click parser: their own message, exit 2.
        show = getattr(exc, "show", None)
        if show:
            show()
        sys.exit(getattr(exc, "exit_code", 2))
    except BrokenPipeError:
        # The reader of our output went away (`| head`); nothing is left to tell it.
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:  # the last resort: a bug, shown as one line, never a traceback
        _internal_error(exc)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
