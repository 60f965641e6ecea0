"""Workers on the surviving site read the replicated copies too (after a failover)."""

import pytest

from streamdr.errors import InputError
from streamdr.pipeline.runner import WorkflowPlan
from streamdr.pipeline.subscriptions import (
    parse_subscriptions,
    topology_subscriptions,
    with_replicated,
)
from streamdr.replication.failover.active_site import PLATFORM_SCOPE, record_active_site
from streamdr.settings.loader import parse_settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.model import Workflow

SETTINGS = """
version: 1
sites:
  primary: {bootstrap_servers: "127.0.0.1:9092"}
  dr: {bootstrap_servers: "127.0.0.1:9093"}
sources:
  shop: {kind: postgres, dsn: "host=x", topic_prefix: cdc.shop}
"""


def _workflow(name, tier):
    return Workflow.model_validate(
        {
            "name": name,
            "client": "acme",
            "tier": tier,
            "transformation": {"name": "tx", "version": "1.0.0"},
            "sink": {"url": "http://x"},
            "source": {"database": "shop", "tables": ["public.orders"]},
        }
    )


def _plan(wf):
    return WorkflowPlan(wf, ["cdc.shop.public.orders"], transform=None, secret=None)


def test_only_existing_copies_are_added_and_own_topics_never_repeated():
    std = _plan(_workflow("a", "standard"))
    other = _plan(_workflow("b", "standard"))
    wanted = {
        "a": ["cdc.shop.public.orders", "primary_cdc.shop.public.orders", "primary_missing"],
    }
    out = with_replicated([std, other], wanted, {"primary_cdc.shop.public.orders"})
    assert out[0].replicated == ["primary_cdc.shop.public.orders"]
    assert out[0].consumed == ["cdc.shop.public.orders", "primary_cdc.shop.public.orders"]
    assert out[1] is other and out[1].consumed == ["cdc.shop.public.orders"]


def test_the_active_standby_serves_the_copy_and_the_passive_site_nothing(tmp_path):
    settings = parse_settings(SETTINGS, "s.yaml")
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)
    wfs = [_workflow("a", "standard")]
    # Before any failover primary is active: it reads its own topics; dr serves nothing.
    assert topology_subscriptions(settings, store, wfs, "dr") == {}
    record_active_site(store, PLATFORM_SCOPE, "dr")
    subs = topology_subscriptions(settings, store, wfs, "dr")
    assert subs == {"a": ["cdc.shop.public.orders", "primary_cdc.shop.public.orders"]}


def test_subscriptions_option_is_checked():
    assert parse_subscriptions('{"g": ["t1", "t2"]}') == {"g": ["t1", "t2"]}
    with pytest.raises(InputError, match="not JSON"):
        parse_subscriptions("{g: t}")
    with pytest.raises(InputError, match="list of topic names"):
        parse_subscriptions('{"g": "t"}')
