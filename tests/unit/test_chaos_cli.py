"""Bad input to `lab link/partition/heal` and `chaos run`: Error + Hint, exit 2, no traceback."""

import json

from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error


def test_link_rejects_jitter_above_latency_and_bad_durations(tmp_path):
    lab = str(tmp_path / "lab")
    proc = run_cli(
        "lab", "link", "primary", "dr", "--latency", "5ms", "--jitter", "10ms", "--lab-dir", lab
    )
    assert_clean_error(proc, 2)
    proc = run_cli("lab", "link", "primary", "dr", "--latency", "soon", "--lab-dir", lab)
    assert_clean_error(proc, 2)
    proc = run_cli("lab", "link", "primary", "dr", "--lab-dir", lab)
    assert_clean_error(proc, 2)


def test_partition_and_heal_without_a_lab(tmp_path):
    lab = str(tmp_path / "lab")
    assert_clean_error(
        run_cli("lab", "partition", "primary", "--path", "moon", "--lab-dir", lab), 2
    )
    assert_clean_error(run_cli("lab", "heal", "--lab-dir", lab), 2)  # no lab here: a state error


def test_chaos_run_rejects_unknown_faults_and_durations(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n")
    assert_clean_error(run_cli("chaos", "run", "--faults", "kill-moon", config=cfg), 2)
    assert_clean_error(run_cli("chaos", "run", "--duration", "3s", config=cfg), 2)
    # Off the lab: refused before anything is built.
    assert_clean_error(run_cli("chaos", "run", "--duration", "30s", config=cfg), 2)


def test_chaos_list_names_the_catalog():
    rows = json.loads(run_cli("chaos", "list", "--json").stdout)
    assert {"kill-broker", "partition-site", "wan-latency"} <= {r["name"] for r in rows}
