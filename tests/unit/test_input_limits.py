"""Hostile and careless input is refused at load with file:line, never accepted or crashed on."""

import sqlite3
import time

import pytest

from streamdr.errors import InputError, StateError
from streamdr.kafka.config import jaas_quote, java_client_properties
from streamdr.pipeline.cdc.sqlite import SqliteSource, trigger_sql
from streamdr.settings import parse_settings
from streamdr.settings.loader import plaintext_warnings
from streamdr.settings.model import MetadataDbSettings, SiteSettings
from streamdr.workflows.documents import parse_workflow
from streamdr.workflows.model import parse_duration
from streamdr.yamldoc import MAX_DOCUMENT_BYTES, DocumentError, decode_yaml_bytes, parse_yaml

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
sites: *i
"""

SITE = "sites:\n  primary:\n    bootstrap_servers: k:9092\n"

WORKFLOW = """\
name: orders
client: acme
tier: critical
source: {{topic: orders}}
transformation: {{name: enrich, version: 1.0.0}}
sink: {{url: "https://crm.example/hooks"}}
{extra}
"""


def _messages(exc: DocumentError) -> str:
    return " | ".join(str(e) for e in exc.errors)


def test_billion_laughs_is_refused_fast_with_the_line_of_the_first_anchor():
    start = time.monotonic()
    with pytest.raises(DocumentError) as info:
        parse_settings(BILLION_LAUGHS, "s.yaml")
    assert time.monotonic() - start < 2
    first = info.value.errors[0]
    assert (first.source, first.line, first.message) == (
        "s.yaml",
        1,
        "YAML anchors are not allowed",
    )
    assert any(e.line == 10 and "aliases" in e.message for e in info.value.errors)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: 1\nb: !!python/object:os.system x\n", 2, "tag"),
        ("a: 1\nb: !custom 3\n", 2, "tag"),
        ("a: 1\nb: !!str 3\n", 2, "tag"),
        ("a: 1\n<<: {b: 2}\nc: &x 3\n", 3, "anchors"),
        ("x: " + "[" * 100 + "]" * 100 + "\n", 1, "nested deeper"),
        ("a: 1\nb: \x07\n", 1, "YAML syntax"),
    ],
)
def test_unsafe_yaml_constructs_are_refused_with_their_line(text, line, words):
    with pytest.raises(DocumentError) as info:
        parse_yaml(text, "f.yaml")
    assert info.value.errors[0].line == line
    assert words in _messages(info.value)


def test_oversized_document_is_refused():
    with pytest.raises(DocumentError, match="larger than"):
        parse_yaml("a: " + "x" * MAX_DOCUMENT_BYTES + "\n", "f.yaml")
    with pytest.raises(DocumentError, match="larger than"):
        decode_yaml_bytes(b"x" * (MAX_DOCUMENT_BYTES + 1), "f.yaml")


def test_non_utf8_names_the_line_of_the_bad_byte():
    with pytest.raises(DocumentError) as info:
        decode_yaml_bytes(b"a: 1\nb: 2\nc: \xff\n", "f.yaml")
    assert info.value.errors[0].line == 3
    assert "not UTF-8" in info.value.errors[0].message


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    bootstrap_servers: k:99999", "bootstrap_servers"),
        ("    bootstrap_servers: k:0", "bootstrap_servers"),
        ("topics: [{name: t, partitions: 1e26}]", "topics[0].partitions"),
        ("topics: [{name: '..'}]", "topics[0].name"),
        ("topics: [{name: 'a b'}]", "topics[0].name"),
        ("replication: {lag_alert_seconds: .inf}", "replication.lag_alert_seconds"),
        ("replication: {lag_sample_seconds: .nan}", "replication.lag_sample_seconds"),
        ("replication: {lag_alert_seconds: -1}", "replication.lag_alert_seconds"),
        ("replication: {tasks_max: 1e300}", "replication.tasks_max"),
        ("stores: {x: {url: ''}}", "stores.x.url"),
        ("metadata_db: {url: ''}", "metadata_db.url"),
        ("sources: {s: {kind: sqlite, path: x, topic_prefix: 'a b'}}", "sources.s.topic_prefix"),
        ("artifacts: {registry_store: nope}", ""),
        ("sources: {s: {dsn: 'host=db password=pw', topic_prefix: p}}", "sources.s.dsn"),
        ("sources: {s: {dsn: 'postgresql://u:pw@db/x', topic_prefix: p}}", "sources.s.dsn"),
    ],
)
def test_careless_settings_values_are_refused(extra, field):
    if extra.startswith("    bootstrap"):
        text = "sites:\n  primary:\n" + extra + "\n"
        field = "sites.primary." + field
    else:
        text = SITE + extra + "\n"
    with pytest.raises(DocumentError) as info:
        parse_settings(text, "s.yaml")
    assert field in {e.field for e in info.value.errors}, _messages(info.value)


@pytest.mark.parametrize(
    "key", ["sasl.password", "ssl.key.password", "ssl.key.pem", "sasl.oauthbearer.client.secret"]
)
def test_secret_keys_in_security_extra_are_refused(key):
    text = SITE + f"    security:\n      extra:\n        {key}: hunter2\n"
    with pytest.raises(DocumentError) as info:
        parse_settings(text, "s.yaml")
    assert "must not hold secrets" in _messages(info.value)
    assert "hunter2" not in _messages(info.value)


def test_harmless_extra_settings_are_kept():
    text = SITE + "    security:\n      extra:\n        client.rack: r1\n"
    assert parse_settings(text, "s.yaml").sites["primary"].security.extra == {"client.rack": "r1"}


def test_metadata_url_with_password_is_refused_and_url_env_is_read(monkeypatch):
    with pytest.raises(DocumentError, match="must not contain a password"):
        parse_settings(SITE + "metadata_db: {url: 'postgresql://u:pw@db/x'}\n", "s.yaml")
    with pytest.raises(DocumentError, match="not both"):
        parse_settings(SITE + "metadata_db: {url: 'sqlite:///m.db', url_env: X}\n", "s.yaml")
    db = MetadataDbSettings(url_env="STREAMDR_TEST_DB_URL")
    monkeypatch.delenv("STREAMDR_TEST_DB_URL", raising=False)
    with pytest.raises(InputError, match="STREAMDR_TEST_DB_URL"):
        db.resolved_url()
    monkeypatch.setenv("STREAMDR_TEST_DB_URL", "postgresql://u:pw@db/x")
    assert db.resolved_url() == "postgresql://u:pw@db/x"


def test_jaas_values_are_escaped_and_newlines_refused(monkeypatch):
    assert jaas_quote('a"b\\c', "x") == '"a\\"b\\\\c"'
    with pytest.raises(InputError, match="control character"):
        jaas_quote('pw"; evil=1\n', "SASL password")
    site = SiteSettings.model_validate(
        {
            "bootstrap_servers": "k:9092",
            "security": {
                "protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "u",
                "sasl_password_env": "STREAMDR_TEST_PW",
            },
        }
    )
    monkeypatch.setenv("STREAMDR_TEST_PW", 'p"w')
    jaas = java_client_properties(site)["sasl.jaas.config"]
    assert jaas.endswith('username="u" password="p\\"w";')


def test_sasl_username_with_a_newline_is_refused():
    text = SITE + (
        "    security: {protocol: SASL_SSL, sasl_mechanism: PLAIN, "
        'sasl_username: "u\\nx", sasl_password_env: P}\n'
    )
    with pytest.raises(DocumentError, match="control characters"):
        parse_settings(text, "s.yaml")


def test_s3_over_plain_http_warns_only_off_loopback():
    text = SITE + (
        "stores:\n"
        "  far: {url: s3://b/p, endpoint_override: 'http://minio.example:9000'}\n"
        "  near: {url: s3://b/p, endpoint_override: 'http://127.0.0.1:9000'}\n"
        "  safe: {url: s3://b/p, endpoint_override: 'https://minio.example'}\n"
    )
    warnings = plaintext_warnings(parse_settings(text, "s.yaml"))
    assert len(warnings) == 1 and "'far'" in warnings[0] and "minio.example" in warnings[0]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("rto: 1e300", "rto"),
        ("rto: -5", "rto"),
        ("rpo: .nan", "rpo"),
        ("rto: true", "rto"),
        ("retry: {initial_backoff_seconds: .inf}", "retry.initial_backoff_seconds"),
        ("retry: {max_backoff_seconds: .nan}", "retry.max_backoff_seconds"),
        ("breaker: {reset_timeout_seconds: 1e300}", "breaker.reset_timeout_seconds"),
        ("dlq: {topic: 'orders dlq!'}", "dlq.topic"),
        ("dlq: {topic: '..'}", "dlq.topic"),
        ("dlq: {topic: " + "x" * 250 + "}", "dlq.topic"),
    ],
)
def test_careless_workflow_values_are_errors_not_crashes(extra, field):
    doc = parse_workflow(WORKFLOW.format(extra=extra), "w.yaml")
    assert doc.workflow is None
    assert field in {e.field for e in doc.errors}, doc.errors


def test_parse_duration_bounds():
    assert parse_duration("5m").total_seconds() == 300
    for bad in (1e300, -1, float("inf"), float("nan"), "31d", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_trigger_sql_quotes_hostile_names_as_literals():
    stmts = trigger_sql("t'x", ["id", "it's"], ["id"])
    assert "'t''x'" in stmts[0] and "'it''s'" in stmts[0]
    with pytest.raises(ValueError, match="not columns"):
        trigger_sql("t", ["id"], ["nope"])


def test_sqlite_source_captures_a_table_with_hostile_column_names(tmp_path):
    path = tmp_path / "src.db"
    db = sqlite3.connect(path)
    db.execute("""CREATE TABLE "o'rders" (id INTEGER PRIMARY KEY, "it's" TEXT, "a""b" TEXT)""")
    db.commit()
    source = SqliteSource("demo", path, ["main.o'rders"])
    assert source.open() == ["main.o'rders"]
    db.execute("""INSERT INTO "o'rders" VALUES (1, 'x', 'y')""")
    db.commit()
    [txn] = source.pending(0, 10)
    assert txn.changes[0].after == {"id": 1, "it's": "x", 'a"b': "y"}
    source.close()
    with pytest.raises(StateError, match="missing"):
        SqliteSource("demo", path, ["main.nope; DROP TABLE x"]).open()
