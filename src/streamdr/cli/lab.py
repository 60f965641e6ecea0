"""`streamdr lab …`: the local two-site Kafka lab."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from streamdr.cli.options import Json
from streamdr.cli.render import err, literal, out, print_json
from streamdr.errors import InputError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.class_archive import ensure_class_archives
from streamdr.lab.cluster import Lab, NodeStatus
from streamdr.lab.layout import SaslListener, sasl_listener
from streamdr.lab.links import LabLinks
from streamdr.lab.wan import link_toxics, parse_duration_ms
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
def install(
    class_archives: Annotated[
        bool,
        typer.Option(
            help="Record the broker's and MirrorMaker 2's class archives (a one-broker training "
            "run, once per JVM); --no-class-archives for an image built on another JVM."
        ),
    ] = True,
    json_out: Json = False,
) -> None:
    """Fetch the Kafka runtime jars from Maven Central and record the JVMs' class archives.

    Both happen once and are reused; a class archive (AppCDS) halves a broker's start-up.
    """
    runtime = ensure_runtime(progress=not json_out)
    archives = ensure_class_archives(runtime) if class_archives else []
    if json_out:
        print_json(
            {
                "version": runtime.version,
                "home": str(runtime.home),
                "java": runtime.java,
                "class_archives": [
                    {
                        "main_class": a.main_class,
                        "path": str(a.path) if a.path else None,
                        "problem": a.problem,
                    }
                    for a in archives
                ],
            }
        )
        return
    out.print(f"Kafka {runtime.version} runtime ready in {literal(runtime.home)}")
    for archive in archives:
        if archive.path is not None:
            what = "recorded" if archive.recorded else "ready"
            out.print(f"Class archive of {archive.main_class} {what}: {literal(archive.path)}")
        else:
            # Not an error: that JVM starts from the jars, only slower.
            err.print(
                f"Warning: no class archive for {archive.main_class} "
                f"({literal(archive.problem or '')})"
            )


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
    """Show every lab node: PID, ports, running, whether its site answers; the SASL listener."""
    lab = _lab(lab_dir)
    nodes = lab.status()
    layout = lab.require_layout()
    answers: dict[str, list[int] | None] = {}
    for s in layout.sites:
        admin = KafkaAdmin(s.name, SiteSettings(bootstrap_servers=s.bootstrap_servers), timeout=2)
        try:
            answers[s.name] = sorted(b.node_id for b in admin.metadata(timeout=2).brokers)
        except Exception:
            answers[s.name] = None
    listener = sasl_listener(layout)
    if json_out:
        print_json(status_doc(lab.dir, nodes, answers, listener))
        return
    out.print(nodes_table(nodes, answers))
    if listener is not None:
        out.print(sasl_table(listener))


def status_doc(
    lab_dir: Path,
    nodes: list[NodeStatus],
    answers: Mapping[str, list[int] | None],
    listener: SaslListener | None,
) -> dict[str, Any]:
    """Return `lab status --json`: nodes, whether each site answers, the SASL listener or null."""
    return {
        "lab_dir": str(lab_dir),
        "nodes": [asdict(n) for n in nodes],
        "sites": {
            k: {"brokers_in_metadata": v, "reachable": v is not None} for k, v in answers.items()
        },
        "sasl": None if listener is None else asdict(listener),
    }


def nodes_table(nodes: list[NodeStatus], answers: Mapping[str, list[int] | None]) -> Table:
    """Return the table of lab nodes (``-``: the site did not answer)."""
    table = Table("site", "node", "port", "controller", "pid", "running", "in metadata")
    for n in nodes:
        seen = answers.get(n.site)
        table.add_row(
            literal(n.site),
            str(n.node_id),
            str(n.port),
            str(n.controller_port),
            str(n.pid or "-"),
            "[green]yes[/]" if n.running else "[red]no[/]",
            "-" if seen is None else ("yes" if n.node_id in seen else "no"),
        )
    return table


def sasl_table(listener: SaslListener) -> Table:
    """Return the SASL listener as rows: where it listens, how to log in, the password's file."""
    # One row per field: addresses and paths are long, and a wide table would cut them.
    table = Table("SASL listener", "")
    table.columns[1].overflow = "fold"
    rows = (
        ("site", listener.site),
        ("address", listener.bootstrap_servers),
        ("protocol", listener.protocol),
        ("mechanism", listener.mechanism),
        ("user", listener.username),
        ("password file", listener.password_file),
    )
    for name, value in rows:
        table.add_row(name, literal(value))
    return table


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


def _ms(option: str, value: str | None) -> int:
    if value is None:
        return 0
    try:
        return parse_duration_ms(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}", hint="Write durations like 35ms, 1.5s or 2m.") from exc


Duration = Annotated[str | None, typer.Option(help="A duration like 35ms, 1.5s or 2m.")]


@app.command()
def link(
    site_a: Annotated[str, typer.Argument(help="One end of the WAN link, e.g. primary.")],
    site_b: Annotated[str, typer.Argument(help="The other end, e.g. dr.")],
    latency: Duration = None,
    jitter: Duration = None,
    bandwidth: Annotated[int, typer.Option(min=0, help="Cap in KB/s each way (0: none).")] = 0,
    reset_after: Annotated[
        str | None, typer.Option(help="Reset every connection this long after data.")
    ] = None,
    slow_close: Duration = None,
    lab_dir: LabDir = None,
) -> None:
    """Degrade the WAN between two sites (MirrorMaker 2's path): latency, jitter, bandwidth…"""
    try:
        toxics = link_toxics(
            latency_ms=_ms("--latency", latency),
            jitter_ms=_ms("--jitter", jitter),
            bandwidth_kbps=bandwidth,
            reset_after_ms=None if reset_after is None else _ms("--reset-after", reset_after),
            slow_close_ms=_ms("--slow-close", slow_close),
        )
    except ValueError as exc:
        raise InputError(str(exc), hint="Jitter must not exceed latency.") from exc
    if not toxics:
        raise InputError("nothing to apply", hint="Give --latency, --bandwidth, --reset-after…")
    names = LabLinks(_lab(lab_dir)).link(site_a, site_b, toxics)
    out.print(f"Link {site_a} <-> {site_b}: {len(toxics)} toxics on {len(names)} proxies")


@app.command()
def partition(
    site: Annotated[str, typer.Argument(help="The site to cut off.")],
    node: Annotated[int | None, typer.Option(help="Only this broker of the site.")] = None,
    path: Annotated[
        str, typer.Option(help="wan (the other site), edge (clients) or both.")
    ] = "both",
    mode: Annotated[
        str, typer.Option(help="timeout (silent drop) or reset (connections refused).")
    ] = "timeout",
    lab_dir: LabDir = None,
) -> None:
    """Partition a site or one broker from the other site and/or clients, until `lab heal`."""
    if path not in ("wan", "edge", "both") or mode not in ("timeout", "reset"):
        raise InputError(
            f"--path {path!r} / --mode {mode!r} is not valid",
            hint="--path wan|edge|both, --mode timeout|reset.",
        )
    names = LabLinks(_lab(lab_dir)).partition(site, node, path, mode)  # type: ignore[arg-type]
    out.print(f"Partitioned {len(names)} proxies: {', '.join(names)}")


@app.command()
def heal(lab_dir: LabDir = None) -> None:
    """Remove every link fault and partition."""
    healed = LabLinks(_lab(lab_dir)).heal()
    out.print("Healed every proxy" if healed else "No proxies were running")


@app.command()
def proxies(lab_dir: LabDir = None, json_out: Json = False) -> None:
    """Start the lab's proxies; print each site's bootstrap through WAN and EDGE proxies."""
    links = LabLinks(_lab(lab_dir))
    layout = links.lab.require_layout()
    doc = {s.name: {p: links.bootstrap(s.name, p) for p in ("wan", "edge")} for s in layout.sites}
    faults = links.faults()
    if json_out:
        print_json({"sites": doc, "faults": faults})
        return
    for site, paths in doc.items():
        out.print(f"{site:<10} wan  {paths['wan']}\n{'':<10} edge {paths['edge']}")
    for name, toxics in sorted(faults.items()):
        out.print(f"fault {name}: {', '.join(toxics)}")
