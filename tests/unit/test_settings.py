from pathlib import Path

import pytest

from streamdr.errors import InputError
from streamdr.kafka.config import client_config, java_client_properties, redact
from streamdr.settings import load_settings, parse_settings
from streamdr.settings.loader import find_settings_path
from streamdr.yamldoc import DocumentError

GOOD = """\
version: 1
sites:
  primary:
    bootstrap_servers: "k1:9092, k2:9092"
  dr:
    bootstrap_servers: dr1:9092
    security:
      protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: streamdr
      sasl_password_env: DR_KAFKA_PASSWORD
      ssl_ca_location: /etc/ca.pem
active_site: primary
stores:
  offsite:
    url: s3://backups/kafka
    endpoint_override: http://127.0.0.1:5000
    offsite: true
"""


def test_good_settings_parse():
    s = parse_settings(GOOD, "streamdr.yaml")
    assert s.sites["primary"].bootstrap_servers == "k1:9092,k2:9092"
    assert s.primary_site == "primary"
    assert s.stores["offsite"].scheme == "s3"
    assert s.stores["offsite"].media_kind == "object"
    assert s.metadata_db.resolved_url().startswith("sqlite:///")


def test_every_error_is_reported_with_line_and_field():
    text = """\
version: 1
sites:
  primary:
    bootstrap_servers: not-a-host-port
    colour: blue
  Bad_Name:
    bootstrap_servers: k:1
"""
    with pytest.raises(DocumentError) as info:
        parse_settings(text, "s.yaml")
    errors = {e.field: e for e in info.value.errors}
    assert errors["sites.primary.bootstrap_servers"].line == 4
    assert errors["sites.primary.colour"].message == "unknown field"
    assert errors["sites.primary.colour"].line == 5
    assert str(errors["sites.primary.colour"]).startswith("s.yaml:5:")
    assert any("site name 'Bad_Name'" in e.message for e in info.value.errors)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(DocumentError) as info:
        parse_settings("sites:\n  primary: [unclosed\n", "x.yaml")
    assert info.value.errors[0].source == "x.yaml"
    assert info.value.errors[0].line >= 2
    assert "YAML syntax" in info.value.message


def test_duplicate_keys_are_rejected():
    with pytest.raises(DocumentError):
        parse_settings(
            "sites:\n  a:\n    bootstrap_servers: k:1\n  a:\n    bootstrap_servers: k:2\n", "d"
        )


def test_sasl_requires_password_env():
    text = GOOD.replace("      sasl_password_env: DR_KAFKA_PASSWORD\n", "")
    with pytest.raises(DocumentError) as info:
        parse_settings(text, "s.yaml")
    assert "sasl_password_env" in info.value.message


def test_active_site_must_exist():
    with pytest.raises(DocumentError):
        parse_settings(GOOD.replace("active_site: primary", "active_site: mars"), "s.yaml")


def test_secret_comes_from_environment_and_is_redacted(monkeypatch):
    s = parse_settings(GOOD, "s.yaml")
    monkeypatch.delenv("DR_KAFKA_PASSWORD", raising=False)
    with pytest.raises(InputError) as info:
        client_config(s.sites["dr"])
    assert "DR_KAFKA_PASSWORD" in info.value.message
    monkeypatch.setenv("DR_KAFKA_PASSWORD", "hunter2")
    conf = client_config(s.sites["dr"])
    assert conf["sasl.password"] == "hunter2"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert "hunter2" not in repr(s)
    assert redact(conf)["sasl.password"] == "***"
    assert 'password="hunter2"' in java_client_properties(s.sites["dr"])["sasl.jaas.config"]


def test_settings_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STREAMDR_CONFIG", raising=False)
    monkeypatch.setenv("STREAMDR_LAB_DIR", str(tmp_path / "lab"))
    with pytest.raises(InputError) as info:
        find_settings_path()
    assert "lab up" in (info.value.hint or "")
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "streamdr.yaml").write_text(GOOD)
    assert find_settings_path() == tmp_path / "lab" / "streamdr.yaml"
    (tmp_path / "streamdr.yaml").write_text(GOOD)
    assert find_settings_path() == tmp_path / "streamdr.yaml"
    other = tmp_path / "other.yaml"
    other.write_text(GOOD)
    monkeypatch.setenv("STREAMDR_CONFIG", str(other))
    assert find_settings_path() == other
    assert find_settings_path(Path(tmp_path / "streamdr.yaml")) == tmp_path / "streamdr.yaml"
    with pytest.raises(InputError):
        find_settings_path(tmp_path / "missing.yaml")


def test_loaded_settings_know_their_directory(tmp_path):
    path = tmp_path / "streamdr.yaml"
    path.write_text(GOOD)
    s = load_settings(path)
    assert s.source == path.resolve()
    assert s.base_dir() == tmp_path.resolve()
