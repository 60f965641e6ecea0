"""`streamdr render …`: the Prometheus alert rules and the Grafana dashboard, as files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streamdr.cli.state import state
from streamdr.dashboard.gather import thresholds
from streamdr.fsutil import atomic_write_text
from streamdr.observe.alerts import AlertThresholds, render_rules
from streamdr.observe.grafana import render_dashboard

app = typer.Typer(
    help="Render files: Prometheus alert rules, the Grafana dashboard, Kubernetes manifests.",
    no_args_is_help=True,
)
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]
Defaults = Annotated[
    bool,
    typer.Option(
        "--strategy-defaults",
        help="Use the strategy's lag thresholds (5/10 min) instead of the settings'.",
    ),
]


def _thresholds(ctx: typer.Context, defaults: bool) -> AlertThresholds:
    return AlertThresholds() if defaults else thresholds(state(ctx).settings())


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(output, text, mode=0o644)  # read by Prometheus / Grafana


@app.command("prometheus-rules")
def prometheus_rules(ctx: typer.Context, output: Output = None, defaults: Defaults = False) -> None:
    """Print the alert rules (Appendix B and the watchable Appendix A items)."""
    _emit(render_rules(_thresholds(ctx, defaults)), output)


@app.command("grafana")
def grafana(ctx: typer.Context, output: Output = None, defaults: Defaults = False) -> None:
    """Print the Grafana "Disaster Recovery Readiness" dashboard (JSON model)."""
    _emit(render_dashboard(_thresholds(ctx, defaults)) + "\n", output)
