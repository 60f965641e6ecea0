"""`lab status` rendering from a layout (no lab): nodes, and the SASL listener when there is one."""

import json

from rich.console import Console

from streamdr.cli.lab import nodes_table, sasl_table, status_doc
from streamdr.lab.cluster import NodeStatus
from streamdr.lab.layout import (
    LabLayout,
    plan_layout,
    sasl_listener,
    with_proxy_ports,
    with_sasl_ports,
)

PASSWORD = "s3cret-never-shown"


def _layout(tmp_path, sasl=True) -> LabLayout:
    layout = plan_layout(("primary", "dr"), 3, list(range(21000, 21012)), ["a", "b"], "4.1.2")
    layout = with_proxy_ports(layout, list(range(21100, 21124)), 21200)
    if sasl:
        layout = with_sasl_ports(layout, "primary", [22001, 22002, 22003], tmp_path / "sasl-pw")
    (tmp_path / "sasl-pw").write_text(PASSWORD)
    return LabLayout.from_json(layout.to_json())  # as `lab status` reads it back


def _nodes(layout: LabLayout) -> list[NodeStatus]:
    return [
        NodeStatus(s.name, n.node_id, n.port, n.controller_port, None, False, "log")
        for s in layout.sites
        for n in s.nodes
    ]


def _text(*renderables) -> str:
    console = Console(width=200, record=True, color_system=None)
    for r in renderables:
        console.print(r)
    return console.export_text()


def test_the_sasl_listener_is_shown_with_its_password_file_never_the_password(tmp_path):
    layout = _layout(tmp_path)
    listener = sasl_listener(layout)
    assert listener is not None and listener.site == "primary"
    text = _text(sasl_table(listener))
    for shown in (
        "primary",
        "127.0.0.1:22001,127.0.0.1:22002,127.0.0.1:22003",
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "streamdr-lab",
        str(tmp_path / "sasl-pw"),
    ):
        assert shown in text
    assert PASSWORD not in text
    doc = status_doc(tmp_path, _nodes(layout), {"primary": [1, 2, 3], "dr": None}, listener)
    assert doc["sasl"] == {
        "site": "primary",
        "bootstrap_servers": "127.0.0.1:22001,127.0.0.1:22002,127.0.0.1:22003",
        "protocol": "SASL_PLAINTEXT",
        "mechanism": "SCRAM-SHA-512",
        "username": "streamdr-lab",
        "password_file": str(tmp_path / "sasl-pw"),
    }
    assert PASSWORD not in json.dumps(doc)
    assert doc["sites"]["dr"] == {"brokers_in_metadata": None, "reachable": False}


def test_a_lab_without_sasl_shows_none_and_json_says_null(tmp_path):
    layout = _layout(tmp_path, sasl=False)
    assert sasl_listener(layout) is None
    doc = status_doc(tmp_path, _nodes(layout), {"primary": None, "dr": None}, None)
    assert doc["sasl"] is None and len(doc["nodes"]) == 6


def test_a_malformed_or_foreign_sasl_record_is_not_shown(tmp_path):
    layout = _layout(tmp_path)
    record = layout.extra["sasl"]
    for bad in (
        "primary",
        {**record, "site": "elsewhere"},
        {**record, "mechanism": 512},
        {k: v for k, v in record.items() if k != "password_file"},
    ):
        broken = LabLayout(layout.kafka_version, layout.sites, layout.version, {"sasl": bad})
        assert sasl_listener(broken) is None, bad
    stray = {**record, "password": PASSWORD}
    leaky = LabLayout(layout.kafka_version, layout.sites, layout.version, {"sasl": stray})
    listener = sasl_listener(leaky)
    assert listener is not None
    assert PASSWORD not in _text(sasl_table(listener)) + json.dumps(
        status_doc(tmp_path, [], {}, listener)
    )


def test_nodes_table_marks_nodes_missing_from_their_sites_metadata(tmp_path):
    layout = _layout(tmp_path)
    text = _text(nodes_table(_nodes(layout), {"primary": [1, 2], "dr": None}))
    cells = [
        [c.strip() for c in line.strip("│ ").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]
    assert [(c[0], c[1], c[-1]) for c in cells] == [
        ("primary", "1", "yes"),
        ("primary", "2", "yes"),
        ("primary", "3", "no"),
        ("dr", "1", "-"),
        ("dr", "2", "-"),
        ("dr", "3", "-"),
    ]
