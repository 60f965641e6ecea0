"""`streamdr cost` from the command line: the table, --json series, bad input, no Kafka."""

import json

from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error


def test_all_options_json_has_series_appendix_and_capacity():
    proc = run_cli("cost", "--json", "--years", "3", "--workflows", "100")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [o["option"] for o in doc["options"]] == [1, 2, 3, 4]
    two = doc["options"][1]
    assert two["monthly"] == 7515.5 and len(two["cumulative_by_month"]) == 36
    assert two["cumulative_by_month"][-1] == two["total_over_years"]
    assert {r["row"] for r in doc["appendix_c"]} >= {"primary_brokers", "total", "annual"}
    assert len(doc["optimisations"]) == 3
    assert all("measurements" in c for c in doc["capacity"])


def test_human_output_has_comparison_and_chart():
    proc = run_cli("cost", "--option", "all")
    assert proc.returncode == 0, proc.stderr
    assert "Option 2 against Appendix C" in proc.stdout
    assert "Cumulative cost" in proc.stdout and "year 3  option 4" in proc.stdout


def test_one_option_scaled_without_appendix_table():
    proc = run_cli("cost", "--option", "2", "--workflows", "200", "--json")
    doc = json.loads(proc.stdout)
    assert "appendix_c" not in doc and doc["options"][0]["monthly"] > 2 * 7000


def test_unknown_option_and_bad_tier_mix_exit_2():
    assert_clean_error(run_cli("cost", "--option", "5"), 2)
    assert_clean_error(run_cli("cost", "--tier-mix", "critical=50,standard=60,non-critical=0"), 2)


def test_bad_prices_file_names_file_and_line(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text(
        "name: x\ninstances:\n  c5.4xlarge: 0.68\nstorage:\n  standard: 0.023\n"
        "  glacier: 0.004\ntransfer:\n  cross_region: 0.02\n"
    )
    proc = run_cli("cost", "--prices", str(bad), "--option", "2")
    assert_clean_error(proc, 2)
    assert f"{bad}:2:1: instances: no price for 'c5.2xlarge'" in proc.stderr
    bad.write_text(bad.read_text().replace("0.023", "-1"))
    proc = run_cli("cost", "--prices", str(bad))
    assert_clean_error(proc, 2)
    assert f"{bad}:5:" in proc.stderr


def test_from_deployed_with_kafka_down_exits_3(tmp_path):
    cfg = tmp_path / "streamdr.yaml"
    cfg.write_text(
        'version: 1\nsites:\n  primary: {bootstrap_servers: "127.0.0.1:1"}\n'
        f'metadata_db: {{url: "sqlite:///{tmp_path / "m.db"}"}}\n'
    )
    proc = run_cli("cost", "--from-deployed", config=cfg, timeout=120)
    assert_clean_error(proc, 3)
