import random

import pytest

from streamdr.lab.cluster import new_cluster_id
from streamdr.lab.layout import LabLayout, broker_properties, plan_layout, render_properties
from streamdr.lab.settings_file import render_lab_settings
from streamdr.runtime.distribution import parse_java_major, parse_sha512_file
from streamdr.runtime.ports import free_ports, port_is_free
from streamdr.settings import parse_settings


def _layout(brokers=3):
    return plan_layout(
        ("primary", "dr"),
        brokers,
        list(range(21000, 21000 + 4 * brokers)),
        ["cid-a", "cid-b"],
        "4.1.2",
    )


def test_layout_assigns_distinct_ports_and_round_trips():
    layout = _layout()
    ports = [p for s in layout.sites for n in s.nodes for p in (n.port, n.controller_port)]
    assert len(ports) == len(set(ports)) == 12
    assert LabLayout.from_json(layout.to_json()) == layout
    assert layout.shape == (("primary", 3), ("dr", 3))
    assert layout.site("dr").node(2).site == "dr"


def test_layout_needs_enough_ports():
    with pytest.raises(ValueError):
        plan_layout(("a",), 3, [1, 2, 3], ["c"], "4.1.2")


def test_broker_properties_follow_the_strategy(tmp_path):
    site = _layout().site("primary")
    props = broker_properties(site, site.node(1), tmp_path)
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["num.recovery.threads.per.data.dir"] == "4"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["controller.quorum.voters"].count("@127.0.0.1:") == 3
    assert "node.id=1\n" in render_properties(props)


def test_one_broker_lab_caps_replication(tmp_path):
    site = plan_layout(("solo",), 1, [21000, 21001], ["c"], "4.1.2").site("solo")
    props = broker_properties(site, site.node(1), tmp_path)
    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"


def test_lab_settings_file_is_valid_settings(tmp_path):
    text = render_lab_settings(tmp_path / "lab", _layout())
    s = parse_settings(text, "lab.yaml")
    assert set(s.sites) == {"primary", "dr"}
    assert all(site.lab for site in s.sites.values())
    assert s.lab_dir == str(tmp_path / "lab")
    assert render_lab_settings(tmp_path, _layout(), "dr").count("active_site: dr") == 1


def test_cluster_ids_are_kafka_shaped():
    for _ in range(50):
        cid = new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")


def test_free_ports_are_free_and_distinct():
    ports = free_ports(6, rng=random.Random(7))
    assert len(set(ports)) == 6
    assert all(port_is_free(p) for p in ports)


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("garbage", None),
    ],
)
def test_java_major(text, major):
    assert parse_java_major(text) == major


def test_sha512_file_layouts():
    digest = "ab" * 64
    grouped = "kafka_2.13-4.1.2.tgz: " + " ".join(
        digest.upper()[i : i + 8] for i in range(0, 128, 8)
    )
    assert parse_sha512_file(grouped) == digest
    assert parse_sha512_file(f"{digest}  kafka_2.13-4.1.2.tgz\n") == digest
    with pytest.raises(ValueError):
        parse_sha512_file("kafka.tgz: 1234")


def test_missing_java_is_a_clear_unreachable_error(monkeypatch, tmp_path):
    from streamdr.errors import UnreachableError
    from streamdr.runtime.distribution import find_java

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UnreachableError) as info:
        find_java()
    assert "Java" in info.value.message and "apt-get" in (info.value.hint or "")


def test_too_old_java_is_refused(monkeypatch, tmp_path):
    from streamdr.errors import UnreachableError
    from streamdr.runtime.distribution import find_java

    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'java version \"1.8.0_292\"' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(UnreachableError) as info:
        find_java()
    assert "too old" in info.value.message
