"""`drill run --delivery`: which drills take which mode, the rig's workflow, the report field."""

import json
from types import SimpleNamespace

import pytest

from streamdr.cli.app import main
from streamdr.cli.drill import _render
from streamdr.drills import registry
from streamdr.drills.context import DrillContext
from streamdr.drills.delivery import BATCHED, DRILL_BATCH, PER_EVENT, parse_delivery
from streamdr.drills.history import list_reports
from streamdr.drills.pipeline_rig import GOOD, PipelineRig
from streamdr.drills.registry import check_drill_delivery, run_drill
from streamdr.drills.report import DrillReport
from streamdr.errors import InputError
from streamdr.policy.tiers import DRILL_TARGETS
from streamdr.settings.loader import parse_settings
from streamdr.store.db import MetadataStore
from streamdr.workflows.documents import parse_workflow
from tests.unit.test_cli_errors import assert_one_error, run_main

# The drills issue 12 names: they run a workflow, so they run in both modes.
BOTH_MODES = {
    "workflow-failure",
    "endpoint-outage",
    "cdc-source-outage",
    "site-failover",
    "site-failover-active-active",
}


def test_parse_delivery_takes_the_two_modes_and_refuses_anything_else():
    assert [parse_delivery(m) for m in ("per-event", "batched")] == [PER_EVENT, BATCHED]
    for bad in ("batch", "Batched", "", "per_event"):
        with pytest.raises(InputError) as info:
            parse_delivery(bad)
        assert info.value.exit_code == 2 and "per-event or batched" in (info.value.hint or "")


@pytest.mark.parametrize("name", sorted(registry.DRILLS))
def test_every_drill_runs_per_event_and_only_the_workflow_drills_run_batched(name):
    assert check_drill_delivery(name, PER_EVENT).name == name
    if name in BOTH_MODES:
        assert check_drill_delivery(name, BATCHED).name == name
    else:
        with pytest.raises(InputError) as info:
            check_drill_delivery(name, BATCHED)
        assert "--delivery batched" in (info.value.hint or "")


def test_drill_list_json_names_each_drills_delivery_modes(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["streamdr", "drill", "list", "--json"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    modes = {d["name"]: d["delivery_modes"] for d in json.loads(capsys.readouterr().out)}
    assert {n for n, m in modes.items() if m == [PER_EVENT, BATCHED]} == BOTH_MODES
    assert all(m == [PER_EVENT] for n, m in modes.items() if n not in BOTH_MODES)


def test_the_cli_refuses_batched_for_another_drill_before_reading_settings(
    tmp_path, monkeypatch, capsys
):
    missing = tmp_path / "nope.yaml"  # never read: the refusal comes first
    args = ("drill", "run", "broker-failover", "--delivery", "batched")
    code, stderr = run_main(monkeypatch, capsys, *args, config=missing)
    assert_one_error(code, stderr, 2)
    assert "broker-failover" in stderr and "nope.yaml" not in stderr
    code, stderr = run_main(
        monkeypatch, capsys, "drill", "run", "endpoint-outage", "--delivery", "x"
    )
    assert_one_error(code, stderr, 2)
    assert "unknown delivery mode 'x'" in stderr


def _lab_context(tmp_path, delivery):
    settings = parse_settings(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n    lab: true\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n",
        "s.yaml",
    )
    return DrillContext(
        settings, "primary", MetadataStore(settings.metadata_db.url, tmp_path), delivery=delivery
    )


@pytest.mark.parametrize("mode", [PER_EVENT, BATCHED])
def test_the_rig_deploys_a_workflow_in_the_drills_delivery_mode(tmp_path, mode):
    rig = PipelineRig(_lab_context(tmp_path, mode), "drill-x", tier="critical")
    rig.endpoint = SimpleNamespace(url="http://127.0.0.1:9")  # only its URL goes in the file
    doc = parse_workflow(rig.workflow_yaml(GOOD), "wf.yaml")
    assert doc.errors == [] and doc.workflow is not None
    assert doc.workflow.delivery.batch == (DRILL_BATCH if mode == BATCHED else None)
    assert doc.workflow.retry.max_attempts == 3  # the drill's own settings are kept


class _FakeDrill:
    """A drill that passes at once; ``modes`` says which delivery modes it declares."""

    targets = DRILL_TARGETS["broker-failover"]
    description = "test"

    def __init__(self, name, modes=None):
        self.name = name
        if modes is not None:
            self.delivery_modes = modes

    def run(self, ctx, report):
        report.judge({"ok": True})
        return report


def test_the_stored_report_keeps_the_mode_of_a_workflow_drill_only(tmp_path, monkeypatch):
    monkeypatch.setitem(
        registry.DRILLS, "fake-pipeline", _FakeDrill("fake-pipeline", (PER_EVENT, BATCHED))
    )
    monkeypatch.setitem(registry.DRILLS, "fake-broker", _FakeDrill("fake-broker"))
    ctx = _lab_context(tmp_path, BATCHED)
    run_id, report = run_drill("fake-pipeline", ctx)
    assert report.as_dict()["delivery_mode"] == BATCHED
    with pytest.raises(InputError):
        run_drill("fake-broker", ctx)  # refused, nothing stored
    ctx.delivery = PER_EVENT
    other_id, _ = run_drill("fake-broker", ctx)
    rows = {r["id"]: r for r in list_reports(ctx.store)}
    assert set(rows) == {run_id, other_id}
    assert rows[run_id]["delivery_mode"] == BATCHED
    assert "delivery_mode" not in rows[other_id]  # a drill without a workflow has no mode


def test_the_text_report_says_which_mode_ran(capsys):
    report = DrillReport("endpoint-outage", "primary", DRILL_TARGETS["broker-failover"])
    report.delivery_mode = BATCHED
    _render(7, report)
    assert "(batched delivery)" in capsys.readouterr().out


def test_drill_history_shows_each_runs_delivery_mode(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(
        registry.DRILLS, "fake-pipeline", _FakeDrill("fake-pipeline", (PER_EVENT, BATCHED))
    )
    monkeypatch.setitem(registry.DRILLS, "fake-broker", _FakeDrill("fake-broker"))
    ctx = _lab_context(tmp_path, BATCHED)
    run_drill("fake-pipeline", ctx)
    ctx.delivery = PER_EVENT
    run_drill("fake-broker", ctx)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n    lab: true\n"
        f"metadata_db:\n  url: sqlite:///{tmp_path}/m.db\n"
    )
    monkeypatch.setenv("STREAMDR_CONFIG", str(cfg))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr("sys.argv", ["streamdr", "drill", "history"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert "delivery" in lines[1]
    rows = {line.split("│")[2].strip(): line.split("│")[4].strip() for line in lines[3:-1]}
    assert rows == {"fake-pipeline": "batched", "fake-broker": "-"}
