"""Production security settings against the lab's SASL_PLAINTEXT/SCRAM-SHA-512 listener.

The site is described exactly as docs/deployment.md tells operators to: a ``security`` block
whose password comes from the environment variable ``sasl_password_env`` names.
"""

from __future__ import annotations

import json
import stat
import time
import uuid
from pathlib import Path

import pytest

from streamdr.lab.layout import SASL_PASSWORD_FILE
from streamdr.settings import load_settings
from tests.conftest import run_cli
from tests.integration.kafka_data import produce

pytestmark = pytest.mark.lab

PASSWORD_ENV = "LAB_KAFKA_PASSWORD"


def _sasl_settings(lab, tmp_path: Path, topic: str) -> Path:
    """Return a settings file whose site primary is reached only through the SCRAM listener."""
    record = lab.require_layout().extra["sasl"]
    plain = lab.require_layout().site("primary").bootstrap_servers
    text = lab.settings_file.read_text()
    sasl_site = (
        f"bootstrap_servers: {record['bootstrap_servers']}\n"
        "    security:\n"
        "      protocol: SASL_PLAINTEXT\n"
        "      sasl_mechanism: SCRAM-SHA-512\n"
        f"      sasl_username: {record['username']}\n"
        f"      sasl_password_env: {PASSWORD_ENV}\n"
    )
    assert f"bootstrap_servers: {plain}\n" in text
    text = text.replace(f"bootstrap_servers: {plain}\n", sasl_site)
    text = text.replace(f"url: {lab.dir / 'backups'}", f"url: {tmp_path / 'backups'}")
    text += f"topics:\n  - name: {topic}\n    partitions: 2\n    sites: [primary]\n"
    cfg = tmp_path / "streamdr.yaml"
    cfg.write_text(text)
    return cfg


def test_the_sasl_listener_is_recorded_and_the_password_stays_private(lab):
    record = lab.require_layout().extra["sasl"]
    assert record["site"] == "primary" and record["mechanism"] == "SCRAM-SHA-512"
    password_file = lab.dir / SASL_PASSWORD_FILE
    assert record["password_file"] == str(password_file)
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert password not in lab.state_file.read_text()
    assert password not in lab.settings_file.read_text()


def test_topics_and_backup_work_through_scram_and_a_wrong_password_is_one_error(
    lab, tmp_path, monkeypatch
):
    topic = f"it.sasl.{uuid.uuid4().hex[:8]}"
    cfg = _sasl_settings(lab, tmp_path, topic)
    password = (lab.dir / SASL_PASSWORD_FILE).read_text().strip()
    env = {PASSWORD_ENV: password}

    created = run_cli("topics", "ensure", "--execute", "--json", config=cfg, env=env)
    assert created.returncode == 0, created.stderr
    assert [a["action"] for a in json.loads(created.stdout)["applied"]] == ["create"]
    with monkeypatch.context() as patch:  # the test's producer reads it as streamdr does
        patch.setenv(PASSWORD_ENV, password)
        now = int(time.time() * 1000)
        produce(load_settings(cfg), topic, [(i % 2, (b"k", b"v", None, now)) for i in range(20)])
    backup = run_cli(
        "backup", "run", "--topics", topic.replace(".", r"\."), "--json", config=cfg, env=env
    )
    assert backup.returncode == 0, backup.stderr
    summary = json.loads(backup.stdout)
    assert summary["records"] == 20 and summary["partitions"] == 2

    wrong = run_cli("topics", "ensure", "--json", config=cfg, env={PASSWORD_ENV: "not-it"})
    assert wrong.returncode == 3, wrong.stdout + wrong.stderr
    errors = [line for line in wrong.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in wrong.stderr, wrong.stderr
    assert "refused the login of SASL user" in errors[0] and "not-it" not in wrong.stderr
    assert f"Hint: Check sasl_username and the password in ${PASSWORD_ENV}" in wrong.stderr
