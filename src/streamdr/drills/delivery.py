"""The delivery mode a pipeline drill runs its workflow in: per event or batched.

A workflow delivers one signed POST per event (the default) or, with ``delivery.batch``, one
signed POST carrying many events that the endpoint answers event by event (docs/pipeline.md).
The pipeline drills and the site-failover drills run in either mode; every other drill has no
workflow to deliver and runs per event only.
"""

from __future__ import annotations

from streamdr.errors import InputError
from streamdr.workflows.model import Batch

PER_EVENT, BATCHED = "per-event", "batched"
DELIVERY_MODES: tuple[str, ...] = (PER_EVENT, BATCHED)

# The batch of a drill's workflow in batched mode. The lab's loads are 30-40 rows/s, so batches
# are filled by the 20 ms wait, not by the count: a handful of events per POST, the shape a
# real low-volume client sees. 50 events keeps one stream per worker (max_in_flight 64 // 50),
# so a lane's order is kept by one POST sequence, as in production with the default batch.
DRILL_BATCH = Batch(max_events=50, max_wait_ms=20)


def parse_delivery(value: str) -> str:
    """Return ``value`` when it names a delivery mode; raises InputError otherwise."""
    if value not in DELIVERY_MODES:
        raise InputError(
            f"unknown delivery mode {value!r}",
            hint=f"Use --delivery {' or '.join(DELIVERY_MODES)}.",
        )
    return value


def check_delivery(drill: str, mode: str, supported: tuple[str, ...]) -> None:
    """Refuse ``mode`` for a drill that cannot run in it; raises InputError (exit 2)."""
    parse_delivery(mode)
    if mode not in supported:
        raise InputError(
            f"drill {drill!r} has no workflow to deliver {mode}",
            hint="--delivery batched is for the pipeline and site-failover drills "
            "(see docs/drills.md); run this one without it.",
        )


def delivery_yaml(mode: str) -> str:
    """Return the workflow file's ``delivery:`` block for ``mode`` ('' for per-event)."""
    if parse_delivery(mode) == PER_EVENT:
        return ""
    batch = "".join(f"    {k}: {v}\n" for k, v in DRILL_BATCH.model_dump().items())
    return f"delivery:\n  batch:\n{batch}"
