"""`streamdr failover watch`: the automatic failover policy (``failover.automatic``), foreground.

Observers probe the active site every ``--interval`` seconds; each round prints what they saw
and the policy's decision (``replication/failover/auto_policy.py``). A ``failover`` decision runs
the same plan/execute path as ``streamdr failover --to SITE --execute``, only when the policy is
enabled and ``mode: automatic``; ``mode: approval`` pages through the signed notify webhook and
waits for a yes on the terminal (or ``approval_timeout``). A disabled policy, or
``--observe-only``, prints what the policy would do and never acts. Ctrl-C stops it (exit 0).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from streamdr.cli.failover import context_for, print_result
from streamdr.cli.render import err, literal, out
from streamdr.cli.state import CliState, state
from streamdr.errors import InputError
from streamdr.lab.cluster import Lab
from streamdr.lab.observers import lab_observers
from streamdr.replication.failover import runs
from streamdr.replication.failover.active_site import PLATFORM_SCOPE, active_site, notify_clients
from streamdr.replication.failover.auto_policy import Decision, Observation
from streamdr.replication.failover.auto_watch import AutoFailover, Probe, WatchResult
from streamdr.replication.failover.execute import execute, prepare
from streamdr.replication.failover.observers import configured_observers
from streamdr.replication.failover.plan import SwitchKind, SwitchRequest
from streamdr.replication.service import deployed_sets
from streamdr.settings.model import Settings


def observers_for(settings: Settings) -> dict[str, Probe]:
    """Return the observers of the settings' sites: ``failover.observers``, else the lab's.

    Raises InputError when none is configured off the lab, when an observer's token variable
    is unset, or when the policy needs more observers than there are.
    """
    observers = configured_observers(settings)
    if not observers:
        if not settings.lab_dir:
            raise InputError(
                "failover watch has no observers: failover.observers is empty and these are "
                "not the lab's settings",
                hint="List at least two observers outside the active site's failure domain under "
                "failover.observers in streamdr.yaml (kind: http for a `streamdr serve` in "
                "another region, kind: kafka for another network path); see docs/replication.md.",
            )
        observers = lab_observers(Lab(Path(settings.lab_dir)))
    check_quorum(settings.failover.automatic.require_observers, len(observers))
    return observers


def check_quorum(need: int, have: int) -> None:
    """Raise InputError when the policy needs more observers than exist (it could never act)."""
    if need > have:
        raise InputError(
            f"failover.automatic.require_observers is {need}, but only {have} observers exist",
            hint=f"Set require_observers between 2 and {have}, or add observers under "
            "failover.observers, in streamdr.yaml.",
        )


def _last_failover_at(st: CliState) -> float | None:
    """Return when the last platform switch that passed started (cool-down survives restarts)."""
    for row in runs.list_runs(st.store(), PLATFORM_SCOPE):
        if row["passed"] and row["started_at"]:
            return datetime.fromisoformat(str(row["started_at"])).timestamp()
    return None


def _switch(st: CliState, json_out: bool) -> Callable[[str], dict[str, Any]]:
    def switch(target: str) -> dict[str, Any]:
        sctx = context_for(st, json_out)
        request = SwitchRequest(SwitchKind.FAILOVER, target, False, PLATFORM_SCOPE)
        plan = prepare(sctx, request, deployed_sets(sctx.settings, sctx.store))
        return execute(sctx, plan)

    return switch


def _approve_on_terminal() -> Callable[[], bool | None]:
    def approval() -> bool | None:
        if not sys.stdin.isatty():
            return None  # nobody at this terminal: wait for the timeout
        return typer.confirm("Approve the failover?", default=False, err=True)

    return approval


def _render_round(json_out: bool, acting: bool) -> Callable[[list[Observation], Decision], None]:
    def render(seen: list[Observation], decision: Decision) -> None:
        if json_out:
            _json_line(_round_doc(seen, decision, acting))
            return
        stamp = time.strftime("%H:%M:%S")
        views = ", ".join(f"{o.observer} {o.seen}" for o in seen)
        site = seen[0].site if seen else "?"
        action = decision.action if acting else f"would {decision.action} (not acting)"
        out.print(
            f"{stamp} {literal(site)}: {literal(views)} → {action}: {literal(decision.reason)}"
        )

    return render


def _json_line(doc: dict[str, Any]) -> None:
    """Print ``doc`` as one line: a watch is a stream (JSON Lines), read as it comes."""
    sys.stdout.write(json.dumps(doc, default=str) + "\n")
    sys.stdout.flush()


def _round_doc(seen: list[Observation], decision: Decision, acting: bool) -> dict[str, Any]:
    return {
        "at": seen[-1].at if seen else time.time(),
        "site": seen[0].site if seen else None,
        "observations": {o.observer: o.up for o in seen},
        "decision": decision.action,
        "reason": decision.reason,
        "acting": acting,
        "observers_down": list(decision.observers_down),
    }


def _render_result(json_out: bool) -> Callable[[WatchResult], None]:
    def render(result: WatchResult) -> None:
        if json_out:
            _json_line(
                {
                    "target": result.target,
                    "paged": result.paged,
                    "approved": result.approved,
                    "switched": result.switched,
                }
            )
            return
        if result.target is None:
            out.print("[yellow]no site to fail over to[/] (failover.automatic.target_site)")
        if result.paged is not None:
            out.print(f"paged: {literal(result.paged)}; approved: {result.approved}")
        if result.switched is not None:
            print_result(result.switched)

    return render


def watch(
    ctx: typer.Context,
    interval: Annotated[
        float, typer.Option(min=0.2, max=300, help="Seconds between observation rounds.")
    ] = 2.0,
    observe_only: Annotated[
        bool, typer.Option("--observe-only", help="Print decisions; never fail over or page.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per round.")] = False,
) -> None:
    """Run the automatic failover policy in the foreground; Ctrl-C stops it.

    Acts (through the `failover` plan/execute path) only when failover.automatic is enabled,
    in mode automatic; mode approval pages and waits for a yes.

    Exit codes: 0 stopped with Ctrl-C; 1 a failover ran and failed; 2 bad settings;
    3 a site or the metadata DB unreachable.
    """
    st = state(ctx)
    settings = st.settings()
    policy = settings.failover.automatic
    acting = policy.enabled and not observe_only
    watcher = AutoFailover(
        policy,
        observers_for(settings),
        tuple(settings.sites),
        active_site(st.store(), settings, PLATFORM_SCOPE),
        _switch(st, json_out),
        page=lambda doc: notify_clients(settings, doc),
        approval=_approve_on_terminal(),
        interval=interval,
        last_failover_at=_last_failover_at(st),
    )
    if not json_out:
        mode = f"mode {policy.mode}" if acting else "observing only"
        err.print(
            f"Watching {literal(watcher.active)} with {', '.join(watcher.observers)} "
            f"({mode}; detect_after {policy.detect_after:g}s, quorum {policy.require_observers})"
            " — Ctrl-C to stop"
        )
    failed: list[WatchResult] = []
    on_result = _render_result(json_out)

    def record(result: WatchResult) -> bool:
        on_result(result)
        if result.switched is not None and not result.switched.get("passed"):
            failed.append(result)
            return False  # stop watching: a failed switch needs a human (`failover --resume`)
        return True

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop: exit 0
        watcher.follow(_render_round(json_out, acting), record, act=acting)
    raise typer.Exit(1 if failed else 0)
