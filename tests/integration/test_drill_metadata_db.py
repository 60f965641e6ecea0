"""The metadata-db-restore drill end to end: real serve processes and Litestream, no Kafka."""

from __future__ import annotations

from streamdr.drills.context import DrillContext
from streamdr.drills.registry import run_drill
from streamdr.settings import load_settings
from streamdr.store.db import MetadataStore


def test_metadata_db_restore_drill_meets_its_goals(tmp_path):
    config = tmp_path / "streamdr.yaml"
    config.write_text("sites:\n  a:\n    bootstrap_servers: localhost:1\n")
    settings = load_settings(config)
    store = MetadataStore(f"sqlite:///{tmp_path / 'history.db'}")
    run_id, report = run_drill("metadata-db-restore", DrillContext(settings, "a", store))
    print(report.as_dict())
    assert report.passed, report.failures
    assert report.rpo_seconds is not None and report.rpo_seconds < 5
    assert report.rto_seconds is not None and report.rto_seconds < 60
    assert report.figures["restored_rows"] > 20
    assert run_id > 0
