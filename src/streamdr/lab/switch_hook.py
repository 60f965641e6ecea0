"""The lab's switch hook: a failover rewrites the lab's ``streamdr.yaml`` with the new active site.

Production failover code knows nothing of the lab; the CLI passes this hook to the switch (as
``SwitchContext.switch_hook``) when the settings in use are the lab's own file and no
``replication.switch_hook`` command is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamdr.fsutil import atomic_write_text
from streamdr.lab.cluster import Lab
from streamdr.lab.settings_file import render_lab_settings
from streamdr.settings.model import Settings


def lab_switch_hook(settings: Settings) -> Callable[[str, str], str] | None:
    """Return the hook that rewrites the lab's settings file, or None when it does not apply."""
    if settings.replication.switch_hook or not _is_lab_settings_file(settings):
        return None

    def rewrite(site: str, _from_site: str) -> str:
        rewrite_lab_active_site(settings, site)
        return f"rewrote active_site: {site} in {settings.source}"

    return rewrite


def _is_lab_settings_file(settings: Settings) -> bool:
    if not settings.lab_dir or settings.source is None:
        return False
    return settings.source.resolve() == (Path(settings.lab_dir) / "streamdr.yaml").resolve()


def rewrite_lab_active_site(settings: Settings, site: str) -> None:
    """Rewrite the lab's settings file with ``active_site: site`` (atomically, durably)."""
    lab = Lab(Path(str(settings.lab_dir)))
    layout = lab.require_layout()
    atomic_write_text(lab.settings_file, render_lab_settings(lab.dir, layout, site))
