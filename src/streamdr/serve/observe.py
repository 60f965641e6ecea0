"""``GET /observe/{site}``: this process's view of a site, for watchers in other networks.

A `failover watch` elsewhere lists this process as an ``http`` observer
(``failover.observers``); it asks here whether the site is up *from this network*. The answer
is ``{"site", "up", "observed_at", "observer"}`` where ``up`` is true, false, or null when this
process could not tell. Read-only. When ``failover.observe_endpoint.token_env`` is set, callers
must send ``Authorization: Bearer <token>`` (compared in constant time); a site that is not in
the settings is a 404 that does not repeat the request's text. Each site is probed at most once
per ``min_interval`` seconds, so callers cannot turn this endpoint into a flood of Kafka
connections.
"""

from __future__ import annotations

import hmac
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from streamdr.replication.failover.auto_watch import Probe
from streamdr.replication.failover.observers import site_probe
from streamdr.settings.model import Settings
from streamdr.signature import secret_from_env

MIN_INTERVAL_S = 1.0


class _Cached:
    """The latest answer of ``probe`` per site, reused for ``min_interval`` seconds."""

    def __init__(self, probe: Probe, min_interval: float, clock: Callable[[], float]) -> None:
        self.probe = probe
        self.min_interval = min_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, bool | None]] = {}

    def __call__(self, site: str) -> tuple[float, bool | None]:
        """Return (when, up) for ``site``, probing again only when the last answer is stale."""
        with self._lock:  # one probe at a time: concurrent callers share its answer
            last = self._seen.get(site)
            if last is None or self.clock() - last[0] >= self.min_interval:
                last = (self.clock(), self.probe(site))
                self._seen[site] = last
            return last


def endpoint_token(settings: Settings) -> bytes | None:
    """Return the token callers must present, or None when the endpoint is open.

    Raises InputError when ``observe_endpoint.token_env`` names an unset variable.
    """
    env = settings.failover.observe_endpoint.token_env
    if env is None:
        return None
    return secret_from_env(
        env,
        "failover.observe_endpoint.token_env",
        hint=f"Export {env} with the token the watchers' http observers send.",
    )


def _authorized(request: Request, token: bytes) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(errors="replace"), token
    )


def observe_router(
    settings: Settings,
    probe: Probe | None = None,
    *,
    min_interval: float = MIN_INTERVAL_S,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """Return the router of ``/observe/{site}`` (probes: each site's own settings by default).

    Raises InputError when the endpoint's token variable is unset.
    """
    token = endpoint_token(settings)
    name = settings.failover.observe_endpoint.name or socket.gethostname()
    cached = _Cached(probe or site_probe(settings), min_interval, clock)
    router = APIRouter()

    @router.get("/observe/{site}")
    def observe(site: str, request: Request) -> JSONResponse:
        if token is not None and not _authorized(request, token):
            return JSONResponse(
                {"error": "bearer token missing or wrong"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if site not in settings.sites:
            return JSONResponse({"error": "unknown site"}, status_code=404)
        at, up = cached(site)
        observed_at = datetime.fromtimestamp(at, UTC).isoformat()
        return JSONResponse({"site": site, "up": up, "observed_at": observed_at, "observer": name})

    return router
