"""`streamdr workflows validate|schema` and `keys generate` from the command line."""

import json

from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error
from tests.unit.test_workflow_schema import BAD, GOOD


def test_validate_lists_every_error_then_one_error_line(tmp_path):
    wf = tmp_path / "workflows" / "client-a"
    wf.mkdir(parents=True)
    (wf / "orders-to-crm.yaml").write_text(GOOD)
    (wf / "bad.yaml").write_text(BAD)
    (wf / "broken.yaml").write_text("name: [unclosed\n")
    proc = run_cli("workflows", "validate", "--schema-only", str(tmp_path / "workflows"))
    assert_clean_error(proc, 2)
    listed = [line.strip() for line in proc.stderr.splitlines() if line.startswith("  ")]
    assert len(listed) == 8, proc.stderr  # 7 in bad.yaml, 1 syntax error in broken.yaml
    assert f"{wf / 'bad.yaml'}:5:1: colour: unknown field" in listed
    assert any(line.startswith(f"{wf / 'broken.yaml'}:") for line in listed)
    assert "Error: 8 errors in 2 of 3 workflow files" in proc.stderr


def test_validate_json_and_valid_files(tmp_path):
    good = tmp_path / "orders.yaml"
    good.write_text(GOOD)
    proc = run_cli("workflows", "validate", "--schema-only", "--json", str(good))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "valid": True,
        "files": 1,
        "workflows": ["orders-to-crm"],
        "errors": [],
    }
    missing = run_cli("workflows", "validate", "--schema-only", str(tmp_path / "nope"))
    assert_clean_error(missing, 2)


def test_schema_command(tmp_path):
    proc = run_cli("workflows", "schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["title"] == "Workflow"
    out = tmp_path / "schema.json"
    assert run_cli("workflows", "schema", "--output", str(out)).returncode == 0
    assert json.loads(out.read_text()) == json.loads(proc.stdout)


def test_keys_generate_refuses_to_overwrite(tmp_path):
    proc = run_cli("keys", "generate", "--out", str(tmp_path / "k"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["key_id"]) == 16 and (tmp_path / "k.key").exists()
    again = run_cli("keys", "generate", "--out", str(tmp_path / "k"))
    assert_clean_error(again, 2)
