"""`streamdr lab …`: the local two-site Kafka lab."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streamdr.cli.options import Json
from streamdr.cli.render import err, literal, out, print_json
from streamdr.errors import InputError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.cluster import Lab
from streamdr.runtime.distribution import ensure_runtime
from streamdr.settings.loader import default_lab_dir
from streamdr.settings.model import SITE_NAME, SiteSettings

app = typer.Typer(
    help="Run the local two-site Kafka lab (real Kafka 4.1 KRaft brokers).", no_args_is_help=True
)

LabDir = Annotated[
    Path | None,
    typer.Option(
        "--lab-dir", help="Lab directory (default: $STREAMDR_LAB_DIR or ./.streamdr/lab)."
    ),
]


def _lab(lab_dir: Path | None) -> Lab:
    return Lab(lab_dir or default_lab_dir())


def _sites(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(s.strip() for s in value.split(",") if s.strip())
    bad = [n for n in names if not SITE_NAME.match(n)]
    if not names or bad or len(set(names)) != len(names):
        raise InputError(
            f"--sites {value!r} must be distinct names like primary,dr",
            hint="Use lower-case letters, digits and '-'.",
        )
    return names


@app.command()
def install(json_out: Json = False) -> None:
    """Fetch the Kafka runtime jars from Maven Central (once; reused afterwards)."""
    runtime = ensure_runtime(progress=not json_out)
    if json_out:
        print_json({"version": runtime.version, "home": str(runtime.home), "java": runtime.java})
    else:
        out.print(f"Kafka {runtime.version} runtime ready in {literal(runtime.home)}")


@app.command()
def up(
    brokers: Annotated[
        int | None, typer.Option(min=1, max=9, help="Brokers per site (default 3).")
    ] = None,
    sites: Annotated[
        str | None, typer.Option(help="Comma-separated site names (default primary,dr).")
    ] = None,
    lab_dir: LabDir = None,
    json_out: Json = False,
) -> None:
    """Start one KRaft cluster per site and write the lab's streamdr.yaml."""
    lab = _lab(lab_dir)
    start = time.monotonic()
    if not json_out:
        err.print("Starting the lab (first run downloads the Kafka jars)…")
    layout = lab.up(_sites(sites), brokers)
    took = time.monotonic() - start
    doc = {
        "lab_dir": str(lab.dir),
        "settings": str(lab.settings_file),
        "seconds": round(took, 2),
        "sites": {s.name: s.bootstrap_servers for s in layout.sites},
    }
    if json_out:
        print_json(doc)
        return
    for s in layout.sites:
        out.print(f"{s.name:<10} {s.bootstrap_servers}")
    out.print(f"Lab up in {took:.1f}s; settings in {literal(lab.settings_file)}")


@app.command()
def status(lab_dir: LabDir = None, json_out: Json = False) -> None:
    """Show every lab node: PID, ports, running, and whether its site answers."""
    lab = _lab(lab_dir)
    nodes = lab.status()
    layout = lab.require_layout()
    answers = {}
    for s in layout.sites:
        admin = KafkaAdmin(s.name, SiteSettings(bootstrap_servers=s.bootstrap_servers), timeout=2)
        try:
            answers[s.name] = sorted(b.node_id for b in admin.metadata(timeout=2).brokers)
        except Exception:
            answers[s.name] = None
    if json_out:
        print_json(
            {
                "lab_dir": str(lab.dir),
                "nodes": [asdict(n) for n in nodes],
                "sites": {
                    k: {"brokers_in_metadata": v, "reachable": v is not None}
                    for k, v in answers.items()
                },
            }
        )
        return
    table = Table("site", "node", "port", "controller", "pid", "running", "in metadata")
    for n in nodes:
        seen = answers.get(n.site)
        table.add_row(
            n.site,
            str(n.node_id),
            str(n.port),
            str(n.controller_port),
            str(n.pid or "-"),
            "[green]yes[/]" if n.running else "[red]no[/]",
            "-" if seen is None else ("yes" if n.node_id in seen else "no"),
        )
    out.print(table)


@app.command()
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete data, logs and settings.")
    ] = False,
    lab_dir: LabDir = None,
) -> None:
    """Stop every lab JVM (also orphans); with --purge remove the lab directory."""
    lab = _lab(lab_dir)
    stopped = lab.down(purge=purge)
    out.print(f"Stopped {stopped} JVMs" + ("; lab directory removed" if purge else ""))


@app.command("stop-broker")
def stop_broker(site: str, node: int, lab_dir: LabDir = None) -> None:
    """Stop one broker with a clean shutdown."""
    changed = _lab(lab_dir).stop_broker(site, node)
    out.print(f"{literal(site)}/{node} " + ("stopped" if changed else "was not running"))


@app.command("kill-broker")
def kill_broker(site: str, node: int, lab_dir: LabDir = None) -> None:
    """SIGKILL one broker (a crash)."""
    changed = _lab(lab_dir).kill_broker(site, node)
    out.print(f"{literal(site)}/{node} " + ("killed" if changed else "was not running"))


@app.command("start-broker")
def start_broker(site: str, node: int, lab_dir: LabDir = None) -> None:
    """Start one broker and wait until it is back in the cluster."""
    changed = _lab(lab_dir).start_broker(site, node)
    out.print(f"{literal(site)}/{node} " + ("started" if changed else "was already running"))


@app.command("kill-site")
def kill_site(site: str, lab_dir: LabDir = None) -> None:
    """SIGKILL every broker of a site (a site loss). `lab up` brings it back."""
    killed = _lab(lab_dir).kill_site(site)
    out.print(f"Killed {killed} brokers of {literal(site)}")
