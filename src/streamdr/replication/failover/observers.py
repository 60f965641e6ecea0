"""Observers of the active site for automatic failover, built from ``failover.observers``.

A ``kafka`` observer sends a metadata request from this process over its own bootstrap path:
brokers in the answer mean up, an unreachable site means down. An ``http`` observer asks a
remote ``streamdr serve`` (``GET {url}/observe/{site}``, see ``serve/observe.py``) what it
sees from its own network. A remote observer that does not answer, answers anything but a 200
with ``{"site": <that site>, "up": true|false}``, or cannot be authenticated is *unknown*: it
never counts as "down" (``auto_policy``), so losing an observer cannot fail a site over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from urllib.parse import quote

import httpx

from streamdr.errors import InputError, LoginRefusedError, StreamdrError, UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.replication.failover.auto_watch import Probe
from streamdr.settings.failover import HttpObserver, KafkaObserver
from streamdr.settings.model import Settings, SiteSettings

PROBE_TIMEOUT_S = 2.0
MAX_ANSWER_BYTES = 4096  # an answer is a few dozen bytes; more is not an observer speaking
SiteFor = Callable[[str], SiteSettings | None]


def metadata_probe(site_for: SiteFor, timeout: float = PROBE_TIMEOUT_S) -> Probe:
    """Return a probe: a metadata request to ``site_for(site)``, at most ``timeout`` s.

    The probe returns True when brokers answer, False when the site is unreachable, and None
    (unknown) for a site without a path or any other failure (a missing secret, a refusal).
    """

    def probe(site: str) -> bool | None:
        settings = site_for(site)
        if settings is None:
            return None
        admin = KafkaAdmin(site, settings, timeout=timeout)
        try:
            return bool(admin.metadata(timeout=timeout).brokers)
        except LoginRefusedError:
            # The brokers answered and refused our password: a wrong or rotated secret on this
            # observer must not read as the site being down (every observer sharing it would
            # agree, and the quorum would fail over a healthy site).
            return None
        except UnreachableError:
            return False
        except StreamdrError:
            return None  # the observer could not look: that says nothing about the site

    return probe


def kafka_observer(settings: Settings, observer: KafkaObserver) -> Probe:
    """Return the probe of ``observer``: each site's security settings over its own path."""

    def site_for(site: str) -> SiteSettings | None:
        servers = observer.bootstrap_servers.get(site)
        if servers is None or site not in settings.sites:
            return None
        return settings.sites[site].model_copy(update={"bootstrap_servers": servers})

    return metadata_probe(site_for)


def parse_observe_answer(body: bytes, site: str) -> bool | None:
    """Return what a remote observer's answer says about ``site``: True, False or None.

    None (unknown) for anything but a JSON object naming ``site`` with a boolean ``up``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("site") != site:
        return None
    up = doc.get("up")
    return up if isinstance(up, bool) else None


class HttpProbe:
    """Asks a remote ``streamdr serve`` whether it sees a site; one kept-alive connection."""

    def __init__(self, observer: HttpObserver, token: str | None) -> None:
        self.observer = observer
        self._headers = {"Accept": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._client: httpx.Client | None = None

    def __call__(self, site: str) -> bool | None:
        """Return the remote observer's view of ``site``, or None when it cannot be had."""
        url = f"{self.observer.url}/observe/{quote(site, safe='')}"
        try:
            with self.client.stream("GET", url, headers=self._headers) as response:
                if response.status_code != 200:
                    return None
                body = _read_bounded(response)
        except (httpx.HTTPError, httpx.InvalidURL):
            return None  # the observer is unreachable, not the site
        return None if body is None else parse_observe_answer(body, site)

    @property
    def client(self) -> httpx.Client:
        """Return the HTTP client, created on first use (no network call in a constructor)."""
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.observer.timeout_seconds, follow_redirects=False
            )
        return self._client


def _read_bounded(response: httpx.Response) -> bytes | None:
    """Return the body, or None when it is larger than MAX_ANSWER_BYTES."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            return None
    return body


def http_observer(observer: HttpObserver) -> HttpProbe:
    """Return the probe of ``observer``; raises InputError when its token variable is unset."""
    token = None
    if observer.token_env is not None:
        token = os.environ.get(observer.token_env)
        if not token:
            raise InputError(
                f"environment variable {observer.token_env} (the token of observer "
                f"{observer.name!r}) is not set",
                hint=f"Export {observer.token_env} with the token the remote `streamdr serve` "
                "expects (its failover.observe_endpoint.token_env).",
            )
    return HttpProbe(observer, token)


def configured_observers(settings: Settings) -> dict[str, Probe]:
    """Return observer name -> probe for ``failover.observers`` (empty when none is set).

    Raises InputError when an http observer's token variable is unset.
    """
    probes: dict[str, Probe] = {}
    for observer in settings.failover.observers:
        if observer.kind == "kafka":
            probes[observer.name] = kafka_observer(settings, observer)
        else:
            probes[observer.name] = http_observer(observer)
    return probes


def site_probe(settings: Settings) -> Probe:
    """Return a probe of each site over its own settings (what `serve`'s /observe answers)."""
    return metadata_probe(settings.sites.get)
