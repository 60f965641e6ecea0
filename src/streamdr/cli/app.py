"""The typer application and the process entry point (error → ``Error:``/``Hint:`` + exit code)."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Annotated

import typer

from streamdr import __version__
from streamdr.cli.help import CONFIG, DATA, INCIDENT, LAB, RUNTIME, hide_flag_types
from streamdr.cli.lazy import LazyEntry, LazyGroup
from streamdr.cli.options import ConfigFile
from streamdr.cli.render import print_error
from streamdr.cli.state import CliState
from streamdr.errors import StreamdrError


def _failover_app() -> typer.Typer:
    """Return the `failover` group: its callback is the runbook command (`failover --to SITE`).

    A group so that `failover watch` sits beside it; without a subcommand the callback runs.
    """
    from streamdr.cli import failover, failover_watch

    sub = typer.Typer(invoke_without_command=True, no_args_is_help=False)
    sub.callback()(failover.failover)
    sub.command("watch")(failover_watch.watch)
    return sub


def _render_app() -> typer.Typer:
    """Return one `render` group: monitoring files (render_files) and Kubernetes manifests."""
    from streamdr.cli import render_files, render_k8s

    files = render_files.app
    sub = typer.Typer(help=files.info.help, no_args_is_help=files.info.no_args_is_help)
    sub.registered_commands = list(files.registered_commands)
    sub.command("k8s")(render_k8s.k8s)
    return sub


def _cmd(name: str, panel: str, summary: str, module: str) -> LazyEntry:
    """Return the entry of a one-function command (``module`` holds a function ``name``)."""
    return LazyEntry(name, panel, summary, f"streamdr.cli.{module}:{name}", group=False)


def _grp(name: str, panel: str, summary: str, target: str | None = None) -> LazyEntry:
    """Return the entry of a group (by default the typer ``app`` of ``streamdr.cli.NAME``)."""
    return LazyEntry(name, panel, summary, target or f"streamdr.cli.{name}:app")


# The commands of `streamdr`, in the order of its help panels (the order an on-call engineer needs
# them). Each summary is the first paragraph of the command's own help; test_cli_lazy.py keeps
# the two equal. A module is imported only when its command runs or shows its own help.
COMMANDS: tuple[LazyEntry, ...] = (
    _cmd(
        "check",
        INCIDENT,
        "Evaluate the DR checklist; exit 0 all pass, 1 any fail, 3 a site unreachable.",
        "check",
    ),
    _cmd(
        "failback",
        INCIDENT,
        "Return to the home site: reverse replication, catch up, fence, switch (planned).",
        "failover",
    ),
    _cmd(
        "rollback",
        INCIDENT,
        "Roll a workflow's transformation back: a new commit pinning V, then deploy (recorded).",
        "rollback",
    ),
    _cmd(
        "dashboard",
        INCIDENT,
        "Serve the readiness page, /status/<client>, /api/readiness and /metrics until stopped.",
        "dashboard",
    ),
    _grp(
        "failover",
        INCIDENT,
        "Make another site active: translated offsets, switch hook, workers restarted.",
        "streamdr.cli.app:_failover_app",
    ),
    _grp("replicate", INCIDENT, "MirrorMaker 2 between sites: tiered flows, supervision, lag."),
    _cmd(
        "restore",
        DATA,
        "Restore topics from a backup: plan, then with --execute write the records.",
        "restore",
    ),
    _grp(
        "backup",
        DATA,
        "Back Kafka topics up to object storage (Parquet), list, verify, apply retention.",
    ),
    _grp("offsets", DATA, "Consumer-group offsets: rewind, snapshot, restore."),
    _grp(
        "db",
        DATA,
        "The metadata DB: continuous backup status and verify, point-in-time restore, validate.",
    ),
    _grp("dlq", DATA, "Dead-letter queues: inspect and replay."),
    _grp("topics", DATA, "Declared topics and the HA topic policy."),
    _cmd(
        "cost",
        CONFIG,
        "Model the cost of the strategy's options (Appendix C) and size capacity from benchmarks.",
        "cost",
    ),
    _grp("config", CONFIG, "The config repository: deploy, rollback, drift, recover, backup."),
    _grp("workflows", CONFIG, "Workflow configs: validate, JSON Schema, list."),
    _grp("artifacts", CONFIG, "Signed transformation artifacts: publish, verify, list, retention."),
    _grp("keys", CONFIG, "Signing keys for transformation artifacts (ed25519)."),
    _grp(
        "render",
        CONFIG,
        "Render files: Prometheus alert rules, the Grafana dashboard, Kubernetes manifests.",
        "streamdr.cli.app:_render_app",
    ),
    _cmd(
        "run",
        RUNTIME,
        "Run a worker per deployed workflow until SIGTERM/SIGINT; kill -9 loses nothing.",
        "run",
    ),
    _cmd(
        "serve",
        RUNTIME,
        "Run the jobs of `schedule:` (one leader among serve processes) until SIGTERM.",
        "serve",
    ),
    _grp("cdc", RUNTIME, "Change data capture from PostgreSQL (or the SQLite demo source)."),
    _grp(
        "endpoint",
        RUNTIME,
        "The reference client endpoint: proves nothing is lost and nothing applied twice.",
    ),
    _grp(
        "jobs",
        RUNTIME,
        "Scheduled jobs of `streamdr serve`: list, history, run now, pause, resume.",
    ),
    _grp("drill", LAB, "DR drills: inject a fault, measure RTO and RPO, keep the history."),
    _grp("chaos", LAB, "Chaos runs: random faults while the pipeline runs under load."),
    _grp("lab", LAB, "Run the local two-site Kafka lab (real Kafka 4.1 KRaft brokers)."),
    _grp("demo", LAB, "The retail demo on the lab: data flowing end to end."),
)


class RootGroup(LazyGroup):
    """The `streamdr` group: the commands of :data:`COMMANDS`, each imported when used."""

    entries = COMMANDS


app = typer.Typer(
    name="streamdr",
    help="Disaster recovery for Kafka streaming platforms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=RootGroup,
)
hide_flag_types()


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
