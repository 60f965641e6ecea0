"""The settings file ``lab up`` writes, describing the lab's sites for every other command."""

from __future__ import annotations

from pathlib import Path

from streamdr.errors import StreamdrError
from streamdr.fsutil import atomic_write_text
from streamdr.lab.layout import LabLayout
from streamdr.settings.loader import parse_settings

HEADER = "# Written by `streamdr lab up`; describes the local lab. Regenerated on every `lab up`.\n"


def render_lab_settings(lab_dir: Path, layout: LabLayout, active_site: str | None = None) -> str:
    """Return the YAML text of the lab's ``streamdr.yaml`` (``active_site`` default: first site)."""
    lines = [HEADER.rstrip(), "version: 1", f"lab_dir: {lab_dir}", "sites:"]
    for site in layout.sites:
        lines += [
            f"  {site.name}:",
            f"    bootstrap_servers: {site.bootstrap_servers}",
            "    lab: true",
        ]
    lines += [
        f"active_site: {active_site or layout.sites[0].name}",
        "stores:",
        "  local:",
        f"    url: {lab_dir / 'backups'}",
        "metadata_db:",
        f"  url: sqlite:///{lab_dir.parent / 'streamdr.db'}",
    ]
    return "\n".join(lines) + "\n"


def write_lab_settings(path: Path, lab_dir: Path, layout: LabLayout) -> None:
    """Write the lab's settings file atomically, keeping the active site of a previous file.

    A failover switches the active site by rewriting this file; a later ``lab up`` must not
    silently switch it back.
    """
    active = _previous_active_site(path, {s.name for s in layout.sites})
    atomic_write_text(path, render_lab_settings(lab_dir, layout, active))


def _previous_active_site(path: Path, sites: set[str]) -> str | None:
    try:
        previous = parse_settings(path.read_text(), str(path))
    except (OSError, StreamdrError):
        return None
    return previous.active_site if previous.active_site in sites else None
