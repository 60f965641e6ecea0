"""Workflow files: schema, layout and cross-references — every error at once, with its place."""

from pathlib import Path

import pytest

from streamdr.workflows.documents import layout_errors, parse_workflow
from streamdr.workflows.rollback import pin_version
from streamdr.workflows.schema import workflow_json_schema
from streamdr.workflows.validation import SourceFile, validate_files

EXAMPLE = Path(__file__).parents[2] / "examples/config-repo/workflows/client-a/orders-to-crm.yaml"

GOOD = """\
name: orders-to-crm
client: client-a
tier: critical
rto: 30s
source:
  database: retail
  tables: [public.orders]
transformation:
  name: enrich-orders
  version: 1.2.0
sink:
  url: https://crm.example/hooks
"""

# Eight problems in one file. All but the sink URL are reported in one run; the URL check
# belongs to the sink block, which pydantic validates only once its own fields are valid.
BAD = """\
name: Orders_To_CRM
client: client-a
tier: standard
rto: 2h
colour: blue
source:
  database: retail
  tables: [orders]
transformation:
  name: enrich-orders
  version: latest
sink:
  url: ftp://crm.example
  timeout_seconds: many
retry:
  max_attempts: 0
"""


def test_good_example_and_defaults():
    doc = parse_workflow(GOOD, "wf.yaml")
    assert doc.errors == []
    wf = doc.workflow
    assert wf.effective_rto.total_seconds() == 30
    assert wf.effective_rpo.total_seconds() == 60  # the critical tier's default
    assert wf.dlq_topic == "orders-to-crm.dlq"
    assert wf.consumer_group == "orders-to-crm"


def test_shipped_example_is_valid():
    doc = parse_workflow(EXAMPLE.read_bytes(), str(EXAMPLE))
    assert doc.errors == [], doc.errors


def test_every_error_reported_at_once_with_line_column_and_field():
    doc = parse_workflow(BAD, "bad.yaml")
    got = {(e.line, e.column, e.field) for e in doc.errors}
    assert got == {
        (1, 1, "name"),
        (4, 1, "rto"),
        (5, 1, "colour"),
        (6, 1, "source"),  # tables must be schema.table (validator of the source block)
        (11, 3, "transformation.version"),
        (14, 3, "sink.timeout_seconds"),
        (16, 3, "retry.max_attempts"),
    }, doc.errors
    messages = {e.field: e.message for e in doc.errors}
    assert messages["colour"] == "unknown field"
    assert "exceeds the standard tier limit" in messages["rto"]
    assert "semantic version" in messages["transformation.version"]
    assert all(str(e).startswith(f"bad.yaml:{e.line}:{e.column}: ") for e in doc.errors)


def test_sink_error_reported_with_others():
    text = BAD.replace("  timeout_seconds: many\n", "")
    fields = {e.field for e in parse_workflow(text, "bad.yaml").errors}
    assert "sink" in fields and "colour" in fields


def test_yaml_syntax_and_duplicate_keys_are_positioned():
    doc = parse_workflow("name: a\nclient: [b\n", "broken.yaml")
    assert doc.workflow is None and doc.errors[0].line >= 2
    assert "YAML syntax" in doc.errors[0].message
    dup = parse_workflow("name: a\nname: b\n", "dup.yaml")
    assert dup.errors and dup.errors[0].line == 2


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_not_a_mapping(text):
    doc = parse_workflow(text, "x.yaml")
    assert doc.workflow is None and doc.errors[0].message.startswith("expected a mapping")


def test_missing_required_fields_listed_together():
    doc = parse_workflow("name: a\n", "x.yaml")
    missing = {e.field for e in doc.errors if e.message == "required field is missing"}
    assert missing == {"client", "tier", "source", "transformation", "sink"}


def test_exactly_once_needs_kafka_sink():
    text = GOOD + "delivery: exactly-once\n"
    errors = parse_workflow(text, "x.yaml").errors
    assert [(e.field, e.line) for e in errors] == [("delivery", 13)]


def test_layout_rule():
    doc = parse_workflow(GOOD, "x")
    assert layout_errors(doc, "workflows/client-a/orders-to-crm.yaml") == []
    fields = {e.field for e in layout_errors(doc, "workflows/client-b/other.yaml")}
    assert fields == {"client", "name"}
    assert layout_errors(doc, "workflows/orders-to-crm.yaml")[0].field == "name"


def _files(**named):
    return [SourceFile(path, path, text) for path, text in named.items()]


def test_cross_references_all_reported():
    other = GOOD.replace("database: retail", "database: billing").replace("1.2.0", "9.0.0")
    invalid_but_readable = GOOD.replace("tier: critical", "tier: platinum")
    files = [
        SourceFile(
            "workflows/client-a/orders-to-crm.yaml", "workflows/client-a/orders-to-crm.yaml", GOOD
        ),
        SourceFile("b/orders-to-crm.yaml", None, other),
        SourceFile("c/orders-to-crm.yaml", None, invalid_but_readable),
    ]
    missing = {
        ("enrich-orders", "9.0.0"): "artifact enrich-orders@9.0.0 is not in store 'registry'"
    }
    calls = []

    def check(name, version):
        calls.append((name, version))
        return missing.get((name, version))

    result = validate_files(files, sources={"retail"}, check_artifact=check)
    assert not result.ok
    got = [(e.source, e.field) for e in result.errors]
    assert ("b/orders-to-crm.yaml", "name") in got  # duplicate name
    assert ("c/orders-to-crm.yaml", "name") in got  # duplicate, even though the file is invalid
    assert ("c/orders-to-crm.yaml", "tier") in got
    assert ("b/orders-to-crm.yaml", "source.database") in got
    assert ("b/orders-to-crm.yaml", "transformation.version") in got
    assert sorted(set(calls)) == [("enrich-orders", "1.2.0"), ("enrich-orders", "9.0.0")]
    assert len(calls) == 2  # one registry check per distinct artifact version
    assert [w.name for w in result.workflows] == ["orders-to-crm", "orders-to-crm"]


def test_valid_tree():
    result = validate_files(
        _files(**{"workflows/client-a/orders-to-crm.yaml": GOOD}),
        sources={"retail"},
        check_artifact=lambda n, v: None,
    )
    assert result.ok and result.as_dict()["workflows"] == ["orders-to-crm"]


def test_json_schema_describes_the_format():
    schema = workflow_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["required"]) == {"name", "client", "tier", "source", "transformation", "sink"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["name"]["pattern"].startswith("^[a-z0-9]")
    assert {"type": "number", "minimum": 0, "maximum": 30 * 86400.0} in schema["properties"]["rto"][
        "anyOf"
    ]
    assert "pattern" in schema["$defs"]["TransformationRef"]["properties"]["version"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  version: 1.2.0\n", "  version: 1.1.0\n"),
        ("  version: '1.2.0'   # pinned\n", "  version: '1.1.0'   # pinned\n"),
        ('  version: "1.2.0"\n', '  version: "1.1.0"\n'),
    ],
)
def test_pin_version_is_a_one_line_edit(line, expected):
    text = GOOD.replace("  version: 1.2.0\n", line).replace(
        "tier: critical", "tier: critical  # keep"
    )
    doc = parse_workflow(text, "x.yaml")
    new = pin_version(text.encode(), doc.doc, "1.1.0", "x.yaml").decode()
    assert new == text.replace(line, expected)
    assert "# keep" in new


def test_pin_version_flow_style():
    text = GOOD.replace(
        "transformation:\n  name: enrich-orders\n  version: 1.2.0\n",
        "transformation: {name: enrich-orders, version: 1.2.0}\n",
    )
    doc = parse_workflow(text, "x.yaml")
    new = pin_version(text.encode(), doc.doc, "1.0.0", "x.yaml").decode()
    assert "{name: enrich-orders, version: 1.0.0}" in new
