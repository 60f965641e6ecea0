"""Fault injection a drill can apply to a site's brokers.

On the lab, brokers are killed with SIGKILL and restarted by the lab. On any other site the
operator configures commands (``sites.<name>.fault_injection``), e.g. an ``ssh … systemctl kill``.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Protocol

from streamdr.errors import InputError, StreamdrError
from streamdr.lab.cluster import Lab
from streamdr.settings.model import FaultInjection, Settings


class BrokerFaults(Protocol):
    """Kill and restart one broker of one site."""

    def kill(self, node_id: int, host: str) -> None:
        """Crash the broker (no clean shutdown)."""

    def start(self, node_id: int, host: str) -> None:
        """Start the broker again (returns once the start was issued)."""


class LabBrokerFaults:
    """Faults on a lab site: SIGKILL and restart of the broker JVM."""

    def __init__(self, lab: Lab, site: str) -> None:
        self.lab = lab
        self.site = site

    def kill(self, node_id: int, host: str) -> None:
        """SIGKILL the node's JVM; raises StreamdrError when it was not running."""
        if not self.lab.kill_broker(self.site, node_id):
            raise StreamdrError(f"lab node {self.site}/{node_id} was not running")

    def start(self, node_id: int, host: str) -> None:
        """Start the node again without waiting for it to join."""
        self.lab.start_broker(self.site, node_id, wait=False)


class CommandBrokerFaults:
    """Faults through operator-configured shell commands."""

    def __init__(self, config: FaultInjection) -> None:
        self.config = config

    def _run(self, template: str, node_id: int, host: str) -> None:
        cmd = template.format(node=node_id, host=shlex.quote(host))
        done = subprocess.run(
            cmd, shell=True, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise StreamdrError(
                f"fault command failed ({done.returncode}): {cmd}: {done.stderr.strip()[-300:]}"
            )

    def kill(self, node_id: int, host: str) -> None:
        """Run the configured kill command."""
        self._run(self.config.kill_broker, node_id, host)

    def start(self, node_id: int, host: str) -> None:
        """Run the configured start command."""
        self._run(self.config.start_broker, node_id, host)


def faults_for(settings: Settings, site_name: str) -> BrokerFaults:
    """Return the fault injector for ``site_name``; raises InputError when none is available."""
    site = settings.sites[site_name]
    if site.fault_injection is not None:
        return CommandBrokerFaults(site.fault_injection)
    if site.lab and settings.lab_dir:
        return LabBrokerFaults(Lab(Path(settings.lab_dir)), site_name)
    raise InputError(
        f"site {site_name!r} is not a lab site and has no fault_injection commands",
        hint=f"Add sites.{site_name}.fault_injection.kill_broker/start_broker to streamdr.yaml "
        "(commands with {node} and {host}), or drill on the lab.",
    )
