"""Toxiproxy links on the session lab: latency, partition and heal through the proxied paths."""

from __future__ import annotations

import time

import pytest

from streamdr.errors import UnreachableError
from streamdr.kafka.admin import KafkaAdmin
from streamdr.lab.cluster import Lab
from streamdr.lab.links import LabLinks
from streamdr.lab.wan import link_toxics
from streamdr.settings.model import SiteSettings


def _metadata_seconds(bootstrap: str) -> float:
    admin = KafkaAdmin("probe", SiteSettings(bootstrap_servers=bootstrap), timeout=5.0)
    start = time.monotonic()
    admin.metadata(timeout=5.0)
    return time.monotonic() - start


def test_link_latency_partition_and_heal(lab: Lab) -> None:
    links = LabLinks(lab)
    wan = links.bootstrap("primary", "wan")
    edge = links.bootstrap("primary", "edge")
    direct = lab.require_layout().site("primary").bootstrap_servers
    try:
        assert _metadata_seconds(wan) < 2.0
        links.link("primary", "dr", link_toxics(latency_ms=300, jitter_ms=10))
        # A fresh client's metadata takes at least a connect round trip through the WAN proxy.
        assert _metadata_seconds(wan) >= 0.6
        assert _metadata_seconds(edge) < 0.5  # clients' path is not the WAN
        links.partition("primary", path="edge")
        with pytest.raises(UnreachableError):
            KafkaAdmin("probe", SiteSettings(bootstrap_servers=edge), timeout=3.0).metadata(3.0)
        assert _metadata_seconds(direct) < 2.0  # the brokers themselves are fine
        assert "edge-primary-1" in links.faults()
    finally:
        assert links.heal()
    assert links.faults() == {}
    assert _metadata_seconds(edge) < 2.0
