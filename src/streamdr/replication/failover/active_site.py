"""The active site: where it is kept (metadata DB), who is told when it changes (hook, webhook).

The metadata DB is the truth; the settings' ``active_site`` is the fallback before the first
switch. ``replication.switch_hook`` runs a command (a DNS update, a config push) with ``{site}``
and ``{from_site}`` filled in; a caller may pass its own hook instead (the lab passes one that
rewrites the lab's ``streamdr.yaml``, see ``lab/settings_file.py``), so nothing here knows the lab.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from typing import Any

import httpx
from sqlalchemy import select

from streamdr.clock import iso, utcnow
from streamdr.errors import InputError, StateError, UnreachableError
from streamdr.settings.model import Settings
from streamdr.signature import SIGNATURE_HEADER, SignedFields, secret_from_env, sign
from streamdr.store.db import MetadataStore
from streamdr.store.schema import site_state

PLATFORM_SCOPE = "platform"
HOOK_TIMEOUT_S = 120.0
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOK_WORKFLOW = "streamdr-failover"


def active_site(store: MetadataStore, settings: Settings, scope: str = PLATFORM_SCOPE) -> str:
    """Return the active site of ``scope``: the DB's record, else the settings' active site."""
    with store.begin() as conn:
        row = conn.execute(select(site_state).where(site_state.c.scope == scope)).first()
    if row is not None and row.active_site in settings.sites:
        return str(row.active_site)
    return settings.primary_site


def record_active_site(
    store: MetadataStore, scope: str, site: str, run_id: int | None = None
) -> None:
    """Make ``site`` the active site of ``scope`` in the metadata DB."""
    now = utcnow()
    with store.begin() as conn:
        updated = conn.execute(
            site_state.update()
            .where(site_state.c.scope == scope)
            .values(active_site=site, updated_at=now, run_id=run_id)
        ).rowcount
        if not updated:
            conn.execute(
                site_state.insert().values(
                    scope=scope, active_site=site, updated_at=now, run_id=run_id
                )
            )


def forget_scope(store: MetadataStore, scope: str) -> None:
    """Remove the active-site record of ``scope`` (a finished drill's own scope)."""
    with store.begin() as conn:
        conn.execute(site_state.delete().where(site_state.c.scope == scope))


def run_switch_hook(settings: Settings, site: str, from_site: str) -> str:
    """Tell the world ``site`` is active; return what was done.

    Raises InputError when the command template cannot be filled in, StateError when the
    command fails or does not finish within HOOK_TIMEOUT_S.
    """
    hook = settings.replication.switch_hook
    if hook:
        cmd = hook_command(hook, site, from_site)
        try:
            done = subprocess.run(
                cmd, shell=True, capture_output=True, text=True, timeout=HOOK_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise StateError(
                f"the switch hook did not finish within {HOOK_TIMEOUT_S:g}s: {cmd}",
                hint="Make replication.switch_hook finish sooner (it must be safe to run "
                "again), then resume.",
            ) from exc
        if done.returncode != 0:
            raise StateError(
                f"the switch hook exited with {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-300:]}",
                hint="Fix replication.switch_hook (it must be safe to run again), then resume.",
            )
        return f"ran switch hook: {cmd}"
    return "no switch hook configured (replication.switch_hook): point clients at the site yourself"


def hook_command(template: str, site: str, from_site: str) -> str:
    """Return the switch hook command with ``{site}`` and ``{from_site}`` filled in (quoted).

    Raises InputError when the template has other fields or unbalanced braces.
    """
    try:
        return template.format(site=shlex.quote(site), from_site=shlex.quote(from_site))
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(
            f"replication.switch_hook {template!r} cannot be filled in: "
            f"{type(exc).__name__}: {exc}",
            hint="Only {site} and {from_site} are filled in; write a literal brace as {{ or }}.",
        ) from exc


def webhook_request(
    secret: bytes, payload: dict[str, Any], now: float
) -> tuple[bytes, dict[str, str]]:
    """Return the body and headers of a signed switch notification (signature v2).

    The idempotency key is the failover run id, so a client that receives a retried POST
    applies it once; the workflow field is ``streamdr-failover``.
    """
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    fields = SignedFields(
        idempotency_key=f"failover-{payload.get('run_id', 'none')}",
        workflow=WEBHOOK_WORKFLOW,
        event_time=iso(utcnow()),
    )
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": fields.idempotency_key,
        "Streamdr-Workflow": fields.workflow,
        "Streamdr-Event-Time": fields.event_time,
        SIGNATURE_HEADER: sign(secret, body, int(now), fields),
    }
    return body, headers


def notify_clients(settings: Settings, payload: dict[str, Any]) -> str:
    """POST ``payload``, signed, to ``replication.notify_webhook``; return what was done.

    Raises InputError when the secret's environment variable is unset, UnreachableError when
    the webhook does not answer 2xx.
    """
    url = settings.replication.notify_webhook
    if not url:
        return "no notify_webhook configured"
    env = settings.replication.notify_secret_env or ""
    body, headers = webhook_request(
        secret_from_env(env, "failover webhook secret"), payload, time.time()
    )
    try:
        resp = httpx.post(url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise UnreachableError(
            f"client webhook {url} is unreachable: {exc}",
            hint="The switch is done; tell clients another way, then resume to retry.",
        ) from exc
    if resp.status_code >= 300:
        raise UnreachableError(
            f"client webhook {url} answered {resp.status_code}",
            hint="The switch is done; tell clients another way, then resume to retry.",
        )
    return f"notified {url} ({resp.status_code})"
