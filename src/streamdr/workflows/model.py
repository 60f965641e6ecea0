"""The workflow configuration: one YAML file per workflow (``workflows/<client>/<name>.yaml``).

Tier defaults for RTO/RPO come from the strategy; a workflow may tighten them, never loosen them.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streamdr.policy.tiers import TIER_TARGETS, Tier
from streamdr.settings.limits import MAX_SECONDS, topic_name

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int | float) -> timedelta:
    """Return ``"90s"``, ``"5m"``, ``"1h"`` (or plain seconds) as a timedelta.

    Raises ValueError for anything else, including booleans, negative, infinite or NaN values
    and durations over 30 days (which would overflow timedelta or mean nothing as an RTO).
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = DURATION.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} must be between 0 and {MAX_SECONDS:.0f} seconds")
    return timedelta(seconds=seconds)


def _name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError("must be lower-case letters, digits and '-' (max 63)")
    return value


Name = Annotated[str, AfterValidator(_name)]
Duration = Annotated[timedelta, Field(description="e.g. 30s, 5m, 1h")]


TopicName = Annotated[str, AfterValidator(topic_name)]
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]


class _Strict(BaseModel):
    # inf/nan pass gt=0 checks and then break sleeps and backoff arithmetic; refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Source(_Strict):
    """Where events come from: CDC tables of a named source database, or an existing topic."""

    database: str | None = Field(None, description="A source named in streamdr.yaml `sources`.")
    tables: list[str] = Field(default_factory=list, description="schema.table names")
    topic: TopicName | None = Field(None, description="An existing topic instead of CDC tables.")

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if bool(self.topic) == bool(self.database):
            raise ValueError("give either database + tables, or topic")
        if self.database and not self.tables:
            raise ValueError("a database source needs at least one table")
        bad = [t for t in self.tables if t.count(".") != 1]
        if bad:
            raise ValueError(f"tables must be schema.table: {bad}")
        return self


class TransformationRef(_Strict):
    """The signed artifact (exact version) this workflow runs."""

    name: Name
    version: str
    # The transformation runs without network (its own network namespace) unless declared.
    network: bool = False

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError("must be an exact semantic version like 1.2.0")
        return value


class Sink(_Strict):
    """Where output events go: a client HTTP endpoint or a Kafka topic."""

    kind: Literal["http", "kafka"] = "http"
    url: str | None = None
    topic: TopicName | None = None
    signing_secret_env: str | None = Field(
        None, description="Environment variable holding the HMAC-SHA256 signing secret."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _target(self) -> Sink:
        if self.kind == "http" and not (self.url and self.url.startswith(("http://", "https://"))):
            raise ValueError("an http sink needs url: http(s)://…")
        if self.kind == "kafka" and not self.topic:
            raise ValueError("a kafka sink needs topic")
        return self


class Retry(_Strict):
    """Delivery retries: exponential backoff with jitter (1, 2, 4 … capped)."""

    max_attempts: int = Field(5, ge=1, le=100)
    initial_backoff_seconds: Seconds = 1.0
    max_backoff_seconds: Seconds = 60.0


class Breaker(_Strict):
    """Circuit breaker on the sink: opens after N consecutive failures for a while."""

    failure_threshold: int = Field(3, ge=1, le=1_000_000)
    reset_timeout_seconds: Seconds = 60.0


class Dlq(_Strict):
    """Dead-letter queue for records that exhausted their retries."""

    enabled: bool = True
    topic: TopicName | None = Field(None, description="Default: <workflow>.dlq")


class Outbox(_Strict):
    """A transactional outbox table in the workflow's source database (checked after restores)."""

    table: str = Field(
        "outbox_events",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$",
        description="[schema.]table with status and created_at columns.",
    )
    stale_after_seconds: float = Field(3600, gt=0, le=30 * 86400)


class Batch(_Strict):
    """Batched HTTP delivery: one signed POST carries up to these many events/bytes."""

    max_events: int = Field(200, ge=1, le=10_000)
    max_bytes: int = Field(512 * 1024, ge=1024, le=16 * 1024 * 1024)
    # How long the worker waits for more records to fill a batch when fewer are waiting.
    max_wait_ms: int = Field(20, ge=0, le=10_000)


GUARANTEES = ("at-least-once", "exactly-once")


class DeliveryMode(_Strict):
    """How output reaches the sink: guarantee, ordering, concurrency and (opt-in) batching.

    A workflow file may say just ``delivery: at-least-once`` (the guarantee), or the mapping.
    """

    guarantee: Literal["at-least-once", "exactly-once"] = "at-least-once"
    # key: events of one record key stay in order, other keys overtake; partition: strict order.
    ordering: Literal["key", "partition"] = "key"
    # Events being delivered at once by one worker (sized for the lab's reference endpoint).
    max_in_flight: int = Field(64, ge=1, le=4096)
    batch: Batch | None = None

    def __eq__(self, other: object) -> bool:
        # ``delivery == "exactly-once"`` keeps meaning what it meant when it was a string.
        if isinstance(other, str):
            return self.guarantee == other
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash((self.guarantee, self.ordering, self.max_in_flight, self.batch))


class Workflow(_Strict):
    """One client workflow."""

    name: Name
    client: Name
    tier: Tier
    rto: Duration | None = None
    rpo: Duration | None = None
    source: Source
    transformation: TransformationRef
    sink: Sink
    delivery: DeliveryMode = Field(default_factory=DeliveryMode)
    retry: Retry = Field(default_factory=Retry)
    breaker: Breaker = Field(default_factory=Breaker)
    dlq: Dlq = Field(default_factory=Dlq)
    outbox: Outbox | None = None

    @field_validator("rto", "rpo", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str | int | float) else value

    # Field validators (not one model validator) so these errors carry the field's own
    # location and are reported together with every other error of the file.
    @field_validator("rto", "rpo")
    @classmethod
    def _within_tier(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        tier = info.data.get("tier")
        if value is None or tier is None:
            return value
        limit = getattr(TIER_TARGETS[tier], info.field_name or "rto")
        if value > limit:
            raise ValueError(f"{info.field_name} {value} exceeds the {tier} tier limit {limit}")
        return value

    @field_validator("delivery", mode="before")
    @classmethod
    def _guarantee_only(cls, value: object) -> object:
        return {"guarantee": value} if isinstance(value, str) else value

    @field_validator("delivery")
    @classmethod
    def _exactly_once_sink(cls, value: DeliveryMode, info: ValidationInfo) -> DeliveryMode:
        sink = info.data.get("sink")
        if value.guarantee == "exactly-once" and sink is not None and sink.kind != "kafka":
            raise ValueError("exactly-once delivery needs a kafka sink (transactions)")
        if value.batch is not None and sink is not None and sink.kind != "http":
            raise ValueError("delivery.batch is for http sinks (a kafka sink batches already)")
        return value

    @property
    def effective_rto(self) -> timedelta:
        """Return the workflow's RTO: its own, else the tier's."""
        return self.rto or TIER_TARGETS[self.tier].rto

    @property
    def effective_rpo(self) -> timedelta:
        """Return the workflow's RPO: its own, else the tier's."""
        return self.rpo or TIER_TARGETS[self.tier].rpo

    @property
    def consumer_group(self) -> str:
        """Return the consumer group of this workflow's workers (its name)."""
        return self.name

    @property
    def dlq_topic(self) -> str:
        """Return the dead-letter topic."""
        return self.dlq.topic or f"{self.name}.dlq"
