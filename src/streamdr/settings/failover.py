"""The ``failover`` section of ``streamdr.yaml``: the automatic failover policy.

Off by default. When on, independent observers probe the active site; a failover starts only
when at least ``require_observers`` of them have seen it down for ``detect_after`` seconds, and
never within ``cool_down`` seconds of the previous one. ``mode: approval`` pages (the signed
``replication.notify_webhook``) and waits for a human instead of switching by itself.

``observers`` says who probes off the lab: ``kind: kafka`` probes each site from this process
over its own bootstrap path; ``kind: http`` asks a remote ``streamdr serve`` (``GET
/observe/{site}``) in another network. ``observe_endpoint`` configures that answering side.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from streamdr.settings.limits import (
    ENV_NAME,
    MAX_SECONDS,
    bootstrap_list,
    is_loopback,
    no_control_chars,
)

MAX_OBSERVERS = 9
MAX_URL_LENGTH = 2048
OBSERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AutomaticFailover(_Strict):
    """When streamdr may fail over by itself (open question 2 of the strategy)."""

    enabled: bool = False
    detect_after: float = Field(
        30.0, gt=0, le=MAX_SECONDS, description="Seconds the site must be seen down by a quorum."
    )
    require_observers: int = Field(
        2,
        ge=2,
        le=16,
        description="Independent observers that must agree the site is down (at least two, so "
        "one observer cut off from the site cannot fail it over).",
    )
    cool_down: float = Field(
        3600.0, ge=0, le=MAX_SECONDS, description="Seconds after a failover before another."
    )
    mode: Literal["automatic", "approval"] = Field(
        "automatic", description="approval: page through the notify webhook and wait."
    )
    approval_timeout: float = Field(
        900.0, gt=0, le=MAX_SECONDS, description="Seconds to wait for an approval, then give up."
    )
    target_site: str | None = Field(None, description="Where to fail over (default: any other).")


def _observer_name(name: str) -> str:
    if not OBSERVER_NAME.match(name):
        raise ValueError(
            f"observer name {name!r} must be 1-32 lower-case letters, digits, '-' or '_'"
        )
    return name


def _env_name(name: str) -> str:
    if not ENV_NAME.match(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    return name


ObserverName = Annotated[str, AfterValidator(_observer_name)]
EnvName = Annotated[str, AfterValidator(_env_name)]


def observer_url(value: str) -> str:
    """Return ``value`` (an http(s) base URL) without a trailing ``/``.

    Raises ValueError without a host, with user info, a query or a fragment, or a bad port.
    """
    no_control_chars(value)
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"url is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be http(s)://host[:port][/path], got {value!r}")
    # The token travels in a header; a URL carrying credentials or a query would leak into logs.
    if "@" in parts.netloc or "?" in value or "#" in value:
        raise ValueError("url must not hold user info, a query or a fragment")
    _ = parts.port  # raises ValueError for a port outside 0-65535
    return value.rstrip("/")


class KafkaObserver(_Strict):
    """Probes each site from this process over its own path (a second listener, another LB).

    The site's ``security`` settings are used unchanged; only the bootstrap servers differ.
    """

    kind: Literal["kafka"]
    name: ObserverName
    bootstrap_servers: dict[str, str] = Field(
        ..., min_length=1, description="Site name -> host:port[,host:port…] over this path."
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: dict[str, str]) -> dict[str, str]:
        return {site: bootstrap_list(servers) for site, servers in value.items()}


class HttpObserver(_Strict):
    """Asks a remote ``streamdr serve`` (``GET {url}/observe/{site}``) whether it sees a site."""

    kind: Literal["http"]
    name: ObserverName
    url: Annotated[str, AfterValidator(observer_url)]
    token_env: EnvName | None = Field(
        None, description="Environment variable holding the bearer token (never the token)."
    )
    timeout_seconds: float = Field(2.0, gt=0, le=30, description="Per request, connect included.")

    @model_validator(mode="after")
    def _token_encrypted(self) -> HttpObserver:
        host = urlsplit(self.url).hostname or ""
        if self.token_env and self.url.startswith("http://") and not is_loopback(host):
            raise ValueError(
                f"observer {self.name!r}: a bearer token is not sent over plain http:// to "
                f"{host!r}; use https://"
            )
        return self


Observer = Annotated[KafkaObserver | HttpObserver, Field(discriminator="kind")]


class ObserveEndpoint(_Strict):
    """How this process answers ``GET /observe/{site}`` on `streamdr serve` for other watchers."""

    token_env: EnvName | None = Field(
        None, description="Environment variable holding the bearer token callers must send."
    )
    name: Annotated[str, AfterValidator(no_control_chars)] | None = Field(
        None, max_length=64, description="Name in the answers (default: the host name)."
    )


class FailoverSettings(_Strict):
    """Failover behaviour beyond the runbook (``streamdr failover``)."""

    automatic: AutomaticFailover = Field(default_factory=AutomaticFailover)
    observers: list[Observer] = Field(
        default_factory=list,
        max_length=MAX_OBSERVERS,
        description="Who probes the active site off the lab (empty: the lab's own observers).",
    )
    observe_endpoint: ObserveEndpoint = Field(default_factory=ObserveEndpoint)

    @field_validator("observers")
    @classmethod
    def _unique_names(
        cls, observers: list[KafkaObserver | HttpObserver]
    ) -> list[KafkaObserver | HttpObserver]:
        names = [o.name for o in observers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"observer names must be unique: {', '.join(twice)}")
        return observers
