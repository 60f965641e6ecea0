import pytest

from streamdr.lab.layout import LabLayout, broker_properties, plan_layout, with_proxy_ports
from streamdr.lab.wan import (
    link_proxies,
    link_toxics,
    parse_duration_ms,
    partition_proxies,
    partition_toxics,
    proxied_bootstrap,
    proxy_specs,
)


def _plain():
    return plan_layout(("primary", "dr"), 2, list(range(21000, 21008)), ["a", "b"], "4.1.2")


def _proxied():
    return with_proxy_ports(_plain(), list(range(22000, 22016)), 23000)


def test_proxy_ports_are_distinct_and_round_trip():
    layout = _proxied()
    ports = [
        p
        for s in layout.sites
        for n in s.nodes
        for p in (
            n.port,
            n.controller_port,
            n.wan_port,
            n.wan_proxy_port,
            n.edge_port,
            n.edge_proxy_port,
        )
    ]
    assert len(ports) == len(set(ports)) == 24
    assert LabLayout.from_json(layout.to_json()) == layout
    assert layout.extra["toxiproxy_api_port"] == 23000


def test_proxy_ports_need_enough_ports():
    with pytest.raises(ValueError):
        with_proxy_ports(_plain(), [1, 2, 3], 4)


def test_old_lab_state_without_proxy_ports_still_loads_and_keeps_its_listeners(tmp_path):
    layout = _plain()
    loaded = LabLayout.from_json(layout.to_json())
    node = loaded.site("primary").node(1)
    assert not node.proxied
    props = broker_properties(loaded.site("primary"), node, tmp_path)
    assert (
        props["listeners"]
        == f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
    )
    assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{node.port}"
    assert proxy_specs(loaded) == []


def test_proxied_node_advertises_proxy_ports_and_keeps_plaintext(tmp_path):
    site = _proxied().site("dr")
    node = site.node(2)
    props = broker_properties(site, node, tmp_path)
    assert f"PLAINTEXT://127.0.0.1:{node.port}" in props["advertised.listeners"]
    assert f"WAN://127.0.0.1:{node.wan_proxy_port}" in props["advertised.listeners"]
    assert f"EDGE://127.0.0.1:{node.edge_proxy_port}" in props["advertised.listeners"]
    assert f"WAN://127.0.0.1:{node.wan_port}" in props["listeners"]
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert "WAN:PLAINTEXT" in props["listener.security.protocol.map"]


def test_proxy_specs_forward_proxy_port_to_listener():
    layout = _proxied()
    specs = {s.name: s for s in proxy_specs(layout)}
    node = layout.site("primary").node(1)
    assert len(specs) == 8
    assert specs["wan-primary-1"].listen == f"127.0.0.1:{node.wan_proxy_port}"
    assert specs["wan-primary-1"].upstream == f"127.0.0.1:{node.wan_port}"
    assert specs["edge-primary-1"].upstream == f"127.0.0.1:{node.edge_port}"
    assert all(s.listen.startswith("127.0.0.1:") for s in specs.values())


def test_bootstrap_and_fault_targets():
    layout = _proxied()
    dr = layout.site("dr")
    assert proxied_bootstrap(layout, "dr", "edge") == ",".join(
        f"127.0.0.1:{n.edge_proxy_port}" for n in dr.nodes
    )
    assert link_proxies(layout, "primary", "dr") == [
        "wan-primary-1",
        "wan-primary-2",
        "wan-dr-1",
        "wan-dr-2",
    ]
    assert partition_proxies(layout, "dr", 2, "edge") == ["edge-dr-2"]
    assert partition_proxies(layout, "primary") == [
        "wan-primary-1",
        "edge-primary-1",
        "wan-primary-2",
        "edge-primary-2",
    ]
    with pytest.raises(ValueError):
        proxied_bootstrap(_plain(), "dr", "wan")
    with pytest.raises(KeyError):
        partition_proxies(layout, "nowhere")


@pytest.mark.parametrize(
    ("text", "ms"), [("35ms", 35), ("250", 250), ("1.5s", 1500), ("2m", 120_000), (" 5 ms ", 5)]
)
def test_parse_duration(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "-5ms", "5h", "fast", "11m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration_ms(text)


def test_link_toxics_apply_latency_both_ways():
    toxics = link_toxics(latency_ms=35, jitter_ms=5, bandwidth_kbps=1000, slow_close_ms=10)
    latency = [t for t in toxics if t.type == "latency"]
    assert {t.stream for t in latency} == {"upstream", "downstream"}
    assert latency[0].attributes == {"latency": 35, "jitter": 5}
    assert {t.type for t in toxics} == {"latency", "bandwidth", "slow_close"}
    assert len({t.name for t in toxics}) == len(toxics)
    assert link_toxics(reset_after_ms=0)[0].as_json()["type"] == "reset_peer"
    assert link_toxics() == []


def test_link_toxics_reject_jitter_above_latency_and_negatives():
    with pytest.raises(ValueError):
        link_toxics(latency_ms=5, jitter_ms=10)
    with pytest.raises(ValueError):
        link_toxics(bandwidth_kbps=-1)


def test_partition_toxics():
    assert [t.type for t in partition_toxics()] == ["timeout", "timeout"]
    assert partition_toxics()[0].attributes == {"timeout": 0}
    assert [t.type for t in partition_toxics("reset")] == ["reset_peer"]
