"""The ``failover`` section of ``streamdr.yaml``: the automatic failover policy.

Off by default. When on, independent observers probe the active site; a failover starts only
when at least ``require_observers`` of them have seen it down for ``detect_after`` seconds, and
never within ``cool_down`` seconds of the previous one. ``mode: approval`` pages (the signed
``replication.notify_webhook``) and waits for a human instead of switching by itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from streamdr.settings.limits import MAX_SECONDS


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


class FailoverSettings(_Strict):
    """Failover behaviour beyond the runbook (``streamdr failover``)."""

    automatic: AutomaticFailover = Field(default_factory=AutomaticFailover)
