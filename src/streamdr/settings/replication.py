"""The ``replication`` section of ``streamdr.yaml``: MM2 tuning, lag thresholds, failover hooks.

Every field has a default, so a settings file without the section is valid. Commands may contain
``{site}`` (the site becoming active) and ``{from_site}`` (the one it replaces).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamdr.settings.limits import MAX_SECONDS

SEPARATOR = re.compile(r"^[^\sA-Za-z0-9]{1,3}$")
MIB = 1024 * 1024
# MM2 client settings an operator may override, with their allowed integer range or values.
# Left out on purpose: addresses, security and SASL/SSL (the site's settings own them), class
# names and interceptors (they load code), acks and idempotence (durability of the copy).
CONSUMER_KEYS: dict[str, tuple[int, int] | frozenset[str]] = {
    "fetch.min.bytes": (1, 64 * MIB),
    "fetch.max.bytes": (1024, 1024 * MIB),
    "max.partition.fetch.bytes": (1024, 1024 * MIB),
    "fetch.max.wait.ms": (0, 60_000),
    "max.poll.records": (1, 100_000),
    "receive.buffer.bytes": (-1, 256 * MIB),
    "send.buffer.bytes": (-1, 256 * MIB),
    "request.timeout.ms": (1_000, 600_000),
    "reconnect.backoff.ms": (0, 60_000),
    "reconnect.backoff.max.ms": (0, 600_000),
    "retry.backoff.ms": (0, 60_000),
    "connections.max.idle.ms": (-1, 86_400_000),
}
PRODUCER_KEYS: dict[str, tuple[int, int] | frozenset[str]] = {
    "linger.ms": (0, 60_000),
    "batch.size": (0, 64 * MIB),
    "buffer.memory": (MIB, 4096 * MIB),
    "compression.type": frozenset({"none", "gzip", "snappy", "lz4", "zstd"}),
    "max.request.size": (1024, 1024 * MIB),
    "receive.buffer.bytes": (-1, 256 * MIB),
    "send.buffer.bytes": (-1, 256 * MIB),
    "request.timeout.ms": (1_000, 600_000),
    "delivery.timeout.ms": (1_000, 86_400_000),
    # Idempotence (always on for MM2's writer) keeps order with at most 5 in flight.
    "max.in.flight.requests.per.connection": (1, 5),
    "retry.backoff.ms": (0, 60_000),
}
# The kinds of client an override names (its first dotted part), each with its allow-list.
CLIENT_KEYS: dict[str, dict[str, tuple[int, int] | frozenset[str]]] = {
    "consumer": CONSUMER_KEYS,
    "producer": PRODUCER_KEYS,
}


class _Strict(BaseModel):
    # inf/nan pass gt=0 checks and then break sleeps; every interval is also capped.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class WorkloadCommands(_Strict):
    """Commands that stop and start the pipeline (workers and CDC) against a site.

    ``start`` also receives ``{subscriptions}``: a JSON object group → topics on that site.
    ``fenced`` must exit 0 only when nothing processes against ``{site}`` any more.
    """

    stop: str
    start: str
    fenced: str | None = None
    timeout_seconds: float = Field(120.0, gt=0, le=MAX_SECONDS)


def _client_value(key: str, value: object) -> str:
    """Return ``value`` as MM2 property text; raises ValueError for a key or value refused."""
    kind, _, name = key.partition(".")
    allowed = CLIENT_KEYS.get(kind, {})
    rule = allowed.get(name)
    if rule is None:
        raise ValueError(
            f"client_overrides: {key!r} is not an allowed key; use consumer.<key> or "
            f"producer.<key> with a key from docs/replication.md"
        )
    if isinstance(rule, frozenset):
        if str(value) not in rule:
            raise ValueError(f"client_overrides: {key} must be one of {sorted(rule)}")
        return str(value)
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]{1,12}", text):
        raise ValueError(f"client_overrides: {key} must be an integer")
    lo, hi = rule
    if not lo <= int(text) <= hi:
        raise ValueError(f"client_overrides: {key} must be between {lo} and {hi}")
    return str(int(text))


class Mm2Settings(_Strict):
    """Settings of the MirrorMaker 2 processes themselves."""

    client_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="consumer.<key> (MM2 reading a source site) and producer.<key> (MM2 "
        "writing its target) client settings, from an allow-list; e.g. WAN fetch sizes.",
    )

    @field_validator("client_overrides", mode="before")
    @classmethod
    def _overrides(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        if len(value) > 64:
            raise ValueError("client_overrides: at most 64 keys")
        return {str(k): _client_value(str(k), v) for k, v in value.items()}

    def overrides(self, kind: str) -> dict[str, str]:
        """Return the ``consumer`` or ``producer`` overrides without their prefix."""
        prefix = f"{kind}."
        return {
            k.removeprefix(prefix): v
            for k, v in self.client_overrides.items()
            if k.startswith(prefix)
        }


class ReplicationSettings(_Strict):
    """How streamdr runs MirrorMaker 2 and fails over between sites."""

    separator: str = Field(
        "_", description="replication.policy.separator: remote topics are <site><sep><topic>."
    )
    home_site: str | None = Field(
        None, description="The site that is active in normal operation (default: first site)."
    )
    emit_interval_seconds: float | None = Field(
        None,
        gt=0,
        le=MAX_SECONDS,
        description="Checkpoint/offset-sync/group-sync interval; default 1 s on the lab, "
        "else a tenth of the tightest replicated tier's RPO (at most 60 s).",
    )
    refresh_interval_seconds: float | None = Field(
        None, gt=0, le=MAX_SECONDS, description="How often MM2 looks for new topics and groups."
    )
    offset_lag_max: int = Field(
        100, ge=1, le=10**12, description="MM2 offset.lag.max (sync spacing)."
    )
    tasks_max: int = Field(4, ge=1, le=256)
    replication_factor: int = Field(
        3, ge=1, le=32_767, description="RF of remote and internal topics."
    )
    heap_mb: int = Field(512, ge=128, le=1_048_576)
    lag_warning_seconds: float = Field(300.0, gt=0, le=MAX_SECONDS)
    lag_critical_seconds: float = Field(600.0, gt=0, le=MAX_SECONDS)
    lag_alert_seconds: float = Field(
        60.0,
        gt=0,
        le=MAX_SECONDS,
        description="Alert threshold (Appendix A: alert on lag > 1 minute).",
    )
    lag_sample_seconds: float = Field(
        5.0, gt=0, le=MAX_SECONDS, description="How often the supervisor samples lag."
    )
    switch_hook: str | None = Field(
        None, description="Command run when the active site changes (e.g. a DNS update)."
    )
    notify_webhook: str | None = Field(
        None, description="URL that receives a signed JSON POST when the active site changes."
    )
    notify_secret_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        description="Environment variable holding the webhook's HMAC secret (signature v2).",
    )
    workload: WorkloadCommands | None = None
    mm2: Mm2Settings = Field(default_factory=Mm2Settings)

    @field_validator("separator")
    @classmethod
    def _separator(cls, value: str) -> str:
        if not SEPARATOR.match(value):
            raise ValueError("separator must be 1-3 punctuation characters such as _ or .")
        return value

    @field_validator("notify_webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("notify_webhook must be an http(s):// URL")
        return value

    @model_validator(mode="after")
    def _webhook_signed(self) -> ReplicationSettings:
        # A client acts on this POST (it moves its traffic), so it must be able to tell it from
        # a forgery: the webhook is signed like a delivery, never sent unsigned.
        if self.notify_webhook and not self.notify_secret_env:
            raise ValueError("notify_webhook needs notify_secret_env (the POST is signed)")
        return self

    @model_validator(mode="after")
    def _thresholds(self) -> ReplicationSettings:
        if self.lag_warning_seconds >= self.lag_critical_seconds:
            raise ValueError("lag_warning_seconds must be below lag_critical_seconds")
        return self
