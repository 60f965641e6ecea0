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


# In-process runs of main(): the same Error/Hint/exit-code contract, without a new interpreter.
def run_main(monkeypatch, capsys, *args, config=None):
    """Run streamdr's main() with ``args``; return (exit code, stderr)."""
    import pytest

    from streamdr.cli.app import main

    if config is not None:
        monkeypatch.setenv("STREAMDR_CONFIG", str(config))
    monkeypatch.setattr("sys.argv", ["streamdr", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code, capsys.readouterr().err


def assert_one_error(code, stderr, expected_code):
    assert code == expected_code, stderr
    lines = stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Error", "Hint"], stderr
    assert "Traceback" not in stderr


def _settings(tmp_path, extra="", db=None):
    cfg = tmp_path / "s.yaml"
    url = db or f"sqlite:///{tmp_path}/m.db"
    cfg.write_text(
        f"sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        f"metadata_db:\n  url: '{url}'\n{extra}"
    )
    return cfg


def test_non_utf8_settings_file(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_bytes(b"sites:\n  primary:\n    bootstrap_servers: \xff\xfe:1\n")
    code, stderr = run_main(monkeypatch, capsys, "drill", "history", config=cfg)
    assert_one_error(code, stderr, 2)
    assert f"{cfg}:3:1: not UTF-8" in stderr


def test_billion_laughs_settings_file(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text('a: &a ["lol","lol"]\nb: &b [*a,*a]\nsites: *b\n')
    code, stderr = run_main(monkeypatch, capsys, "drill", "history", config=cfg)
    assert_one_error(code, stderr, 2)
    assert f"{cfg}:1:" in stderr and "anchors are not allowed" in stderr


def test_metadata_db_that_is_not_a_database(tmp_path, monkeypatch, capsys):
    (tmp_path / "m.db").write_bytes(b"this is not sqlite" * 100)
    code, stderr = run_main(monkeypatch, capsys, "drill", "history", config=_settings(tmp_path))
    assert_one_error(code, stderr, 2)
    assert "not usable" in stderr


def test_metadata_db_whose_driver_is_missing(tmp_path, monkeypatch, capsys):
    cfg = _settings(tmp_path, db="mysql+mysqldb://u@127.0.0.1/x")
    code, stderr = run_main(monkeypatch, capsys, "drill", "history", config=cfg)
    assert_one_error(code, stderr, 2)
    assert "driver is not installed" in stderr


def test_metadata_db_in_a_missing_directory_is_not_created(tmp_path, monkeypatch, capsys):
    cfg = _settings(tmp_path, db=f"sqlite:///{tmp_path}/typo/m.db")
    code, stderr = run_main(monkeypatch, capsys, "drill", "history", config=cfg)
    assert_one_error(code, stderr, 2)
    assert "does not exist" in stderr
    assert not (tmp_path / "typo").exists()


def test_metadata_db_url_env_unset(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        "metadata_db:\n  url_env: STREAMDR_TEST_UNSET_URL\n"
    )
    monkeypatch.delenv("STREAMDR_TEST_UNSET_URL", raising=False)
    code, stderr = run_main(monkeypatch, capsys, "drill", "history", config=cfg)
    assert_one_error(code, stderr, 2)
    assert "STREAMDR_TEST_UNSET_URL" in stderr


def test_keys_generate_into_an_unwritable_place(monkeypatch, capsys):
    code, stderr = run_main(monkeypatch, capsys, "keys", "generate", "--out", "/proc/x")
    assert_one_error(code, stderr, 2)
    assert "/proc/x.key" in stderr


def test_brackets_in_values_are_printed_literally(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "a[/x]" / "[bold]s.yaml"
    code, stderr = run_main(monkeypatch, capsys, "--config", str(missing), "drill", "history")
    assert_one_error(code, stderr, 2)
    assert f"{missing}" in stderr


def test_unexpected_exception_is_one_internal_error_line(tmp_path, monkeypatch, capsys):
    def boom(*_args):
        raise RuntimeError("boom [bold]x[/bold]\nsecond line")

    monkeypatch.setattr("streamdr.cli.state.load_settings", boom)
    monkeypatch.delenv("STREAMDR_DEBUG", raising=False)
    code, stderr = run_main(monkeypatch, capsys, "drill", "history")
    assert_one_error(code, stderr, 1)
    assert "Error: internal error: RuntimeError: boom [bold]x[/bold] second line" in stderr
    assert "STREAMDR_DEBUG=1" in stderr


def test_internal_error_shows_the_traceback_when_debugging(monkeypatch, capsys):
    def boom(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr("streamdr.cli.state.load_settings", boom)
    monkeypatch.setenv("STREAMDR_DEBUG", "1")
    code, stderr = run_main(monkeypatch, capsys, "drill", "history")
    assert code == 1
    assert "Traceback" in stderr and "Error: internal error: RuntimeError: boom" in stderr


def test_workflow_with_overflowing_rto_is_a_validation_error(tmp_path, monkeypatch, capsys):
    wf = tmp_path / "w.yaml"
    wf.write_text(
        "name: orders\nclient: acme\ntier: critical\nrto: 1e300\nsource: {topic: orders}\n"
        "transformation: {name: enrich, version: 1.0.0}\n"
        "sink: {url: 'https://crm.example/x'}\ndlq: {topic: 'bad topic'}\n"
    )
    code, stderr = run_main(monkeypatch, capsys, "workflows", "validate", "--schema-only", str(wf))
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert f"{wf}:4:" in stderr
