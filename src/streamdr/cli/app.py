"""The typer application and the process entry point (error → ``Error:``/``Hint:`` + exit code)."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Annotated

import typer

from streamdr import __version__
from streamdr.cli import (
    artifacts,
    backup,
    cdc,
    chaos,
    check,
    config,
    cost,
    dashboard,
    db,
    demo,
    dlq,
    drill,
    endpoint,
    failover,
    failover_watch,
    jobs,
    keys,
    lab,
    offsets,
    render_files,
    render_k8s,
    replicate,
    restore,
    rollback,
    run,
    serve,
    topics,
    workflows,
)
from streamdr.cli.help import CONFIG, DATA, INCIDENT, LAB, RUNTIME, hide_flag_types
from streamdr.cli.options import ConfigFile
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
hide_flag_types()
# Panels of `streamdr --help`, in the order an on-call engineer needs them.
app.command("check", rich_help_panel=INCIDENT)(check.check)
# `failover` is a group so that `failover watch` sits beside it; without a subcommand the group's
# callback is the runbook command (`failover --to SITE`).
failover_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)
failover_app.callback()(failover.failover)
failover_app.command("watch")(failover_watch.watch)
app.add_typer(failover_app, name="failover", rich_help_panel=INCIDENT)
app.command("failback", rich_help_panel=INCIDENT)(failover.failback)
app.command("rollback", rich_help_panel=INCIDENT)(rollback.rollback)
app.command("dashboard", rich_help_panel=INCIDENT)(dashboard.dashboard)
app.add_typer(replicate.app, name="replicate", rich_help_panel=INCIDENT)
app.command("restore", rich_help_panel=DATA)(restore.restore)
app.add_typer(backup.app, name="backup", rich_help_panel=DATA)
app.add_typer(offsets.app, name="offsets", rich_help_panel=DATA)
app.add_typer(db.app, name="db", rich_help_panel=DATA)
app.add_typer(dlq.app, name="dlq", rich_help_panel=DATA)
app.add_typer(topics.app, name="topics", rich_help_panel=DATA)
app.add_typer(config.app, name="config", rich_help_panel=CONFIG)
app.add_typer(workflows.app, name="workflows", rich_help_panel=CONFIG)
app.add_typer(artifacts.app, name="artifacts", rich_help_panel=CONFIG)
app.add_typer(keys.app, name="keys", rich_help_panel=CONFIG)
app.command("cost", rich_help_panel=CONFIG)(cost.cost)
# One `render` group: monitoring files (render_files) and Kubernetes manifests (render_k8s).
render_files.app.command("k8s")(render_k8s.k8s)
app.add_typer(render_files.app, name="render", rich_help_panel=CONFIG)
app.command("run", rich_help_panel=RUNTIME)(run.run)
app.add_typer(cdc.app, name="cdc", rich_help_panel=RUNTIME)
app.add_typer(endpoint.app, name="endpoint", rich_help_panel=RUNTIME)
app.command("serve", rich_help_panel=RUNTIME)(serve.serve)
app.add_typer(jobs.app, name="jobs", rich_help_panel=RUNTIME)
app.add_typer(drill.app, name="drill", rich_help_panel=LAB)
app.add_typer(chaos.app, name="chaos", rich_help_panel=LAB)
app.add_typer(lab.app, name="lab", rich_help_panel=LAB)
app.add_typer(demo.app, name="demo", rich_help_panel=LAB)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamdr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: ConfigFile = None,
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
