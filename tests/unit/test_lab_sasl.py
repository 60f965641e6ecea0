"""The lab's SCRAM listener: layout, broker properties and the password file (pure parts)."""

import json
import stat

import pytest

from streamdr.errors import StateError
from streamdr.lab.layout import (
    LabLayout,
    broker_properties,
    plan_layout,
    with_proxy_ports,
    with_sasl_ports,
)
from streamdr.lab.sasl import read_or_create_password, sasl_site

SASL_PORTS = [22001, 22002, 22003]


def _layout(tmp_path, proxied=True):
    layout = plan_layout(("primary", "dr"), 3, list(range(21000, 21012)), ["a", "b"], "4.1.2")
    if proxied:
        layout = with_proxy_ports(layout, list(range(21100, 21124)), 21200)
    return with_sasl_ports(layout, "primary", SASL_PORTS, tmp_path / "sasl-password")


def test_only_the_chosen_site_gets_sasl_ports_and_state_records_them(tmp_path):
    layout = _layout(tmp_path)
    assert [n.sasl_port for n in layout.site("primary").nodes] == SASL_PORTS
    assert [n.sasl_port for n in layout.site("dr").nodes] == [0, 0, 0]
    record = layout.extra["sasl"]
    assert record["bootstrap_servers"] == "127.0.0.1:22001,127.0.0.1:22002,127.0.0.1:22003"
    assert record["mechanism"] == "SCRAM-SHA-512" and record["protocol"] == "SASL_PLAINTEXT"
    assert record["password_file"] == str(tmp_path / "sasl-password")
    assert layout.extra["toxiproxy_api_port"] == 21200  # earlier extras kept
    assert LabLayout.from_json(layout.to_json()) == layout
    assert sasl_site(layout)[0].name == "primary"


def test_sasl_listener_is_added_and_the_others_are_unchanged(tmp_path):
    for proxied in (True, False):
        with_sasl = _layout(tmp_path, proxied)
        site, node = with_sasl.site("primary"), with_sasl.site("primary").node(2)
        props = broker_properties(site, node, tmp_path)
        plain_site = plan_layout(("primary",), 3, list(range(21000, 21006)), ["a"], "4")
        if proxied:
            plain_site = with_proxy_ports(plain_site, list(range(21100, 21112)), 21200)
        before = broker_properties(
            plain_site.site("primary"), plain_site.site("primary").node(2), tmp_path
        )
        assert props["listeners"] == before["listeners"] + ",SASL://127.0.0.1:22002"
        assert props["advertised.listeners"].endswith(",SASL://127.0.0.1:22002")
        assert props["listener.security.protocol.map"].endswith(",SASL:SASL_PLAINTEXT")
        assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert "ScramLoginModule" in props["listener.name.sasl.scram-sha-512.sasl.jaas.config"]
        assert props["inter.broker.listener.name"] == "PLAINTEXT"
        dr = with_sasl.site("dr")
        assert "SASL" not in broker_properties(dr, dr.node(1), tmp_path)["listeners"]


def test_a_lab_state_from_before_the_sasl_listener_still_loads(tmp_path):
    old = json.loads(plan_layout(("p",), 1, [1, 2], ["c"], "4").to_json())
    del old["sites"][0]["nodes"][0]["sasl_port"]
    layout = LabLayout.from_json(json.dumps(old))
    assert layout.site("p").node(1).sasl_port == 0
    assert sasl_site(layout) is None
    assert layout.site("p").sasl_bootstrap_servers == ""


def test_sasl_ports_must_be_enough_and_distinct(tmp_path):
    layout = plan_layout(("p",), 3, list(range(10, 16)), ["c"], "4")
    with pytest.raises(ValueError):
        with_sasl_ports(layout, "p", [1, 1, 2], tmp_path / "pw")
    with pytest.raises(KeyError):
        with_sasl_ports(layout, "nope", [1, 2, 3], tmp_path / "pw")


def test_password_file_is_private_random_and_stable(tmp_path):
    path = tmp_path / "lab" / "sasl-password"
    first = read_or_create_password(path)
    assert len(first) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_password(path) == first
    assert read_or_create_password(tmp_path / "other" / "sasl-password") != first


def test_an_empty_password_file_is_a_state_error(tmp_path):
    path = tmp_path / "sasl-password"
    path.write_text("\n")
    with pytest.raises(StateError) as err:
        read_or_create_password(path)
    assert "Delete it" in (err.value.hint or "")
