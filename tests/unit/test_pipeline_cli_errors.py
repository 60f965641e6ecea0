"""Bad input to the pipeline commands: one Error line and one Hint line, the right exit code."""

from streamdr.cli.options import PLAN_ONLY
from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error


def _settings(tmp_path, sources=""):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n" + sources
    )
    return cfg


def test_unknown_source(tmp_path):
    cfg = _settings(tmp_path)
    for args in (
        ("cdc", "run", "nope"),
        ("cdc", "status", "nope"),
        ("demo", "generate", "--seconds", "1"),
    ):
        proc = run_cli(*args, config=cfg)
        assert_clean_error(proc, 2)
        assert "unknown source" in proc.stderr


def test_endpoint_without_its_secret(tmp_path):
    proc = run_cli(
        "endpoint",
        "serve",
        "--port",
        "1",
        "--secret-env",
        "NO_SUCH_SECRET_ENV",
        config=_settings(tmp_path),
    )
    assert_clean_error(proc, 2)
    assert "NO_SUCH_SECRET_ENV" in proc.stderr


def test_cdc_reset_without_execute_is_a_plan(tmp_path):
    cfg = _settings(
        tmp_path, "sources:\n  s:\n    kind: sqlite\n    path: x.db\n    topic_prefix: s\n"
    )
    proc = run_cli("cdc", "reset", "s", config=cfg)  # Kafka is down: acting would exit 3
    assert proc.returncode == 0, proc.stderr
    assert "Would delete the checkpoint of s" in proc.stdout
    assert proc.stdout.rstrip().endswith(PLAN_ONLY)
    assert "can skip changes" in proc.stderr
    unknown = run_cli("cdc", "reset", "nope", config=cfg)
    assert_clean_error(unknown, 2)


def test_source_settings_are_validated_with_file_and_line(tmp_path):
    cfg = _settings(
        tmp_path, "sources:\n  s:\n    kind: postgres\n    topic_prefix: s\n    tables: [orders]\n"
    )
    proc = run_cli("cdc", "status", "s", config=cfg)
    assert_clean_error(proc, 2)
    assert f"{cfg}:" in proc.stderr


def test_unreachable_kafka_exits_3(tmp_path):
    cfg = _settings(
        tmp_path, "sources:\n  s:\n    kind: sqlite\n    path: x.db\n    topic_prefix: s\n"
    )
    proc = run_cli("cdc", "status", "s", config=cfg, timeout=120)
    assert_clean_error(proc, 3)


def test_run_and_dlq_without_deployments(tmp_path):
    cfg = _settings(tmp_path)
    for args in (("run", "--port", "0"), ("dlq", "list", "wf")):
        proc = run_cli(*args, config=cfg)
        assert_clean_error(proc, 2)
        assert "config deploy" in proc.stderr


def test_dlq_replay_bad_since(tmp_path):
    proc = run_cli("dlq", "replay", "wf", "--since", "yesterday", config=_settings(tmp_path))
    assert_clean_error(proc, 2)
    assert "ISO 8601" in proc.stderr


def test_cdc_to_an_unknown_site(tmp_path):
    cfg = _settings(
        tmp_path, "sources:\n  s:\n    kind: sqlite\n    path: x.db\n    topic_prefix: s\n"
    )
    for args in (("cdc", "run", "s", "--site", "mars"), ("cdc", "status", "s", "--site", "mars")):
        proc = run_cli(*args, config=cfg)
        assert_clean_error(proc, 2)
        assert "unknown site 'mars'" in proc.stderr
