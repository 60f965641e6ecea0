"""Bad input at the CLI: one Error line, one Hint line, the documented exit code, no traceback."""

from tests.conftest import run_cli


def assert_clean_error(proc, code):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("Error: ")]
    assert len(errors) == 1, proc.stderr
    assert lines[errors[0] + 1].startswith("Hint: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_settings_file_names_file_and_line(tmp_path):
    bad = tmp_path / "streamdr.yaml"
    bad.write_text("sites:\n  primary:\n    bootstrap_servers: nohostport\n")
    proc = run_cli("check", config=bad)
    assert_clean_error(proc, 2)
    assert f"{bad}:3:" in proc.stderr


def test_missing_settings_file(tmp_path):
    proc = run_cli("--config", str(tmp_path / "nope.yaml"), "check")
    assert_clean_error(proc, 2)


def test_no_settings_anywhere(tmp_path):
    proc = run_cli(
        "drill",
        "history",
        cwd=tmp_path,
        env={"STREAMDR_CONFIG": "", "STREAMDR_LAB_DIR": str(tmp_path / "lab")},
    )
    assert_clean_error(proc, 2)
    assert "lab up" in proc.stderr


def test_unknown_drill_and_site(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n"
    )
    assert_clean_error(run_cli("drill", "run", "nope", config=cfg), 2)
    assert_clean_error(run_cli("drill", "run", "broker-failover", "--site", "mars", config=cfg), 2)


def test_drill_on_non_lab_site_without_fault_commands(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n"
    )
    proc = run_cli("drill", "run", "broker-failover", config=cfg)
    assert_clean_error(proc, 2)
    assert "fault_injection" in proc.stderr


def test_lab_commands_without_a_lab(tmp_path):
    proc = run_cli("lab", "status", "--lab-dir", str(tmp_path / "none"))
    assert_clean_error(proc, 2)
    proc = run_cli("lab", "up", "--sites", "Bad_Site", "--lab-dir", str(tmp_path / "x"))
    assert_clean_error(proc, 2)


def test_usage_error_exit_2():
    proc = run_cli("drill", "run")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
