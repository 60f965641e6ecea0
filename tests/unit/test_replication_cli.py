"""Replication commands without a cluster: rendering, and bad input as one Error/Hint line."""

from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error

SETTINGS = """version: 1
sites:
  primary: {{bootstrap_servers: "127.0.0.1:1"}}
  dr: {{bootstrap_servers: "127.0.0.1:2"}}
metadata_db: {{url: "sqlite:///{db}"}}
{extra}"""


def write(tmp_path, extra="", sites=None):
    cfg = tmp_path / "streamdr.yaml"
    text = SETTINGS.format(db=tmp_path / "m.db", extra=extra)
    if sites:
        text = text.replace("primary:", f"{sites[0]}:").replace("dr:", f"{sites[1]}:")
    cfg.write_text(text)
    return cfg


def test_render_properties_and_strimzi_offline(tmp_path):
    cfg = write(tmp_path)
    proc = run_cli("replicate", "render", "--topics", "retail.orders", "--groups", "wf", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert "primary->dr.topics=retail\\\\.orders" in proc.stdout
    assert "dr->primary.enabled=false" in proc.stdout
    proc = run_cli(
        "replicate",
        "render",
        "--format",
        "strimzi",
        "--topics",
        "t",
        "--tier",
        "critical",
        config=cfg,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("kind: KafkaMirrorMaker2") == 2
    assert proc.stdout.count("apiVersion: kafka.strimzi.io/v1\n") == 2
    old = ("replicate", "render", "--format", "strimzi", "--topics", "t", "--strimzi-api")
    proc = run_cli(*old, "v1beta2", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("apiVersion: kafka.strimzi.io/v1beta2") == 2  # heartbeats back
    proc = run_cli(*old, "v2", config=cfg)
    assert_clean_error(proc, 2)
    assert "'v2' is unknown" in proc.stderr


def test_nothing_to_replicate(tmp_path):
    proc = run_cli("replicate", "render", config=write(tmp_path))
    assert_clean_error(proc, 2)
    assert "nothing to replicate" in proc.stderr


def test_non_critical_only_has_no_flow(tmp_path):
    proc = run_cli(
        "replicate", "render", "--topics", "t", "--tier", "non-critical", config=write(tmp_path)
    )
    assert_clean_error(proc, 2)


def test_alias_containing_the_separator(tmp_path):
    cfg = write(tmp_path, extra="replication: {separator: '-'}\n", sites=("us-east", "us-west"))
    proc = run_cli("replicate", "render", "--topics", "t", config=cfg)
    assert_clean_error(proc, 2)
    assert "contains the replication separator" in proc.stderr


def test_invalid_replication_settings(tmp_path):
    cfg = write(tmp_path, extra="replication: {separator: 'ab', lag_warning_seconds: 900}\n")
    proc = run_cli("replicate", "render", "--topics", "t", config=cfg)
    assert_clean_error(proc, 2)
    assert "separator" in proc.stderr


def test_bad_format_and_method(tmp_path):
    cfg = write(tmp_path)
    assert_clean_error(run_cli("replicate", "render", "--format", "yaml", config=cfg), 2)
    proc = run_cli("offsets", "translate", "--group", "g", "--method", "guess", config=cfg)
    assert_clean_error(proc, 2)


def test_failover_refusals_offline(tmp_path):
    cfg = write(tmp_path)
    proc = run_cli("failover", "--to", "nowhere", "--dry-run", config=cfg)
    assert_clean_error(proc, 2)
    proc = run_cli("failover", "--to", "primary", "--dry-run", config=cfg)
    assert_clean_error(proc, 2)
    assert "already the active site" in proc.stderr
    proc = run_cli("failback", "--to", "dr", "--dry-run", config=cfg)
    assert_clean_error(proc, 2)
    assert "home site" in proc.stderr
    proc = run_cli("failover", config=cfg)
    assert_clean_error(proc, 2)


def test_failover_to_an_unreachable_site_exits_3(tmp_path):
    cfg = write(tmp_path)
    # Both sites are down: the target does not answer (exit 3 comes first in the list).
    proc = run_cli("failover", "--to", "dr", "--planned", "--dry-run", config=cfg)
    assert_clean_error(proc, 3)
    assert "does not answer" in proc.stderr


def test_history_is_an_empty_json_list_without_runs(tmp_path):
    proc = run_cli("failover", "--history", "--json", config=write(tmp_path))
    assert proc.returncode == 0 and proc.stdout.strip() == "[]"
