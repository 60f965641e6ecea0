"""Attributing the deployed platform's DR cost to tiers and workflows (pure part)."""

import pytest

from streamdr.cost.deployed import (
    SECONDS_PER_MONTH,
    DeployedWorkflow,
    Platform,
    TopicVolume,
    attribute,
)
from streamdr.cost.prices import load_prices
from streamdr.policy.tiers import Tier

PRICES = load_prices()
BROKER_MONTH = 0.68 * 730


def platform(**kw):
    base = {
        "workflows": (
            DeployedWorkflow("a", Tier.CRITICAL, ("orders",)),
            DeployedWorkflow("b", Tier.STANDARD, ("orders", "b.dlq")),
            DeployedWorkflow("c", Tier.NON_CRITICAL, ("clicks",)),
        ),
        "volumes": {
            "orders": TopicVolume(1000.0, 604800000),
            "clicks": TopicVolume(2000.0, None),
            "b.dlq": TopicVolume(0.0, None),
        },
        "backup_bytes": {"clicks": 10 * 10**9},
        "brokers": {"primary": 3, "dr": 3},
        "primary_site": "primary",
        "broker_instance": "c5.4xlarge",
    }
    return Platform(**{**base, **kw})


def test_costs_split_by_tier_and_bytes():
    bill = attribute(platform(), PRICES)
    rows = {r["workflow"]: r for r in bill["workflows"]}
    # Shared topic split equally: a and b each carry 500 B/s, c 2000 B/s.
    assert rows["a"]["primary_cluster"] == pytest.approx(3 * BROKER_MONTH * 500 / 3000)
    assert rows["c"]["primary_cluster"] == pytest.approx(3 * BROKER_MONTH * 2000 / 3000)
    # The DR site is paid by the replicated tiers only; backup-only c pays none of it.
    assert rows["c"]["dr_cluster"] == 0 and rows["c"]["transfer"] == 0
    assert rows["a"]["dr_cluster"] == pytest.approx(3 * BROKER_MONTH / 2)
    assert rows["a"]["transfer"] == pytest.approx(500 * SECONDS_PER_MONTH / 1e9 * 0.02)
    assert rows["c"]["backup"] == pytest.approx(10 * 0.023)
    assert bill["tiers"]["non-critical"]["workflows"] == 1
    assert sum(r["total"] for r in bill["workflows"]) == pytest.approx(bill["total"])


def test_no_traffic_splits_equally_and_nothing_deployed_is_unattributed():
    idle = attribute(platform(volumes={}), PRICES)
    shares = {r["workflow"]: r["primary_cluster"] for r in idle["workflows"]}
    assert shares["a"] == pytest.approx(shares["c"]) == pytest.approx(BROKER_MONTH)
    empty = attribute(platform(workflows=()), PRICES)
    assert empty["workflows"] == [] and empty["unattributed_dr_cluster"] == pytest.approx(
        3 * BROKER_MONTH
    )
