"""The pipeline as failover sees it: stop it, start it against a site, ask whether it is fenced.

Failover and failback never talk to workers or CDC directly; they go through
:class:`WorkloadControl`. :class:`CommandWorkload` runs operator-configured commands
(``replication.workload``); :class:`NoWorkload` is used when nothing is configured, and says so in
every step it takes. Drills bring their own implementation around their test traffic.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from typing import Protocol

from streamdr.errors import StateError
from streamdr.settings.model import Settings
from streamdr.settings.replication import WorkloadCommands


class WorkloadControl(Protocol):
    """Workers and CDC of the streaming pipeline."""

    def stop(self, site: str) -> str:
        """Stop workers and CDC that run against ``site``; return what was done."""
        ...

    def start(self, site: str, subscriptions: dict[str, list[str]]) -> str:
        """Start workers (group → topics) and CDC against ``site``; return what was done."""
        ...

    def fenced(self, site: str) -> bool:
        """Return True when nothing processes against ``site`` any more."""
        ...


class NoWorkload:
    """Nothing to control (no pipeline configured on this deployment)."""

    def stop(self, site: str) -> str:
        """Do nothing."""
        return "no workload control configured (replication.workload): nothing stopped"

    def start(self, site: str, subscriptions: dict[str, list[str]]) -> str:
        """Do nothing."""
        return (
            "no workload control configured: start workers on "
            f"{site} with {json.dumps(subscriptions, sort_keys=True)}"
        )

    def fenced(self, site: str) -> bool:
        """Report fenced: there is nothing to fence."""
        return True


class CommandWorkload:
    """Stop/start/fenced through shell commands with ``{site}`` and ``{subscriptions}``."""

    def __init__(self, commands: WorkloadCommands) -> None:
        self.commands = commands

    def _run(self, template: str, **values: str) -> subprocess.CompletedProcess[str]:
        cmd = template.format(**{k: shlex.quote(v) for k, v in values.items()})
        try:
            return subprocess.run(
                cmd,
                shell=True,
                capture_output=True,
                text=True,
                timeout=self.commands.timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StateError(
                f"workload command timed out after {self.commands.timeout_seconds:.0f}s: {cmd}",
                hint="Check the command by hand; raise replication.workload.timeout_seconds.",
            ) from exc

    def _checked(self, what: str, template: str, **values: str) -> str:
        done = self._run(template, **values)
        if done.returncode != 0:
            raise StateError(
                f"workload {what} command exited with {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-300:]}",
                hint="Fix replication.workload in streamdr.yaml, then resume the run.",
            )
        return f"ran workload {what}: {(done.stdout or '').strip()[-200:]}"

    def stop(self, site: str) -> str:
        """Run the stop command; raises StateError when it fails."""
        return self._checked("stop", self.commands.stop, site=site)

    def start(self, site: str, subscriptions: dict[str, list[str]]) -> str:
        """Run the start command; raises StateError when it fails."""
        subs = json.dumps(subscriptions, sort_keys=True)
        return self._checked("start", self.commands.start, site=site, subscriptions=subs)

    def fenced(self, site: str) -> bool:
        """Run the fenced command (exit 0 = fenced); without one, trust the stop command."""
        if not self.commands.fenced:
            return True
        return self._run(self.commands.fenced, site=site).returncode == 0


def workload_from_settings(settings: Settings) -> WorkloadControl:
    """Return the configured workload control (commands), or NoWorkload."""
    commands = settings.replication.workload
    return CommandWorkload(commands) if commands else NoWorkload()


def wait_fenced(workload: WorkloadControl, site: str, timeout: float) -> float:
    """Wait until ``site`` is fenced; return seconds waited, raise StateError on timeout."""
    start = time.monotonic()
    while not workload.fenced(site):
        if time.monotonic() - start > timeout:
            raise StateError(
                f"workers against {site!r} are still running after {timeout:.0f}s",
                hint="Stop them by hand (the fenced command must exit 0), then resume.",
            )
        time.sleep(0.5)
    return time.monotonic() - start
