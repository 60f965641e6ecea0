"""The pipeline drills and the demo through the CLI, on the lab, with a real PostgreSQL.

They run the production path end to end: signed artifacts published and deployed with the
workflows-as-code commands, `streamdr cdc run`, `streamdr run`, `streamdr dlq replay`.
"""

from __future__ import annotations

import json

import pytest

from streamdr.runtime.ports import free_ports
from tests.conftest import run_cli
from tests.integration.pipeline_env import wait_until

pytestmark = pytest.mark.lab


# Issue 12: every pipeline drill passes in both delivery modes. `make test` runs each drill once,
# the modes alternating; the other three combinations run in `make soak`.
DRILL_MODES = [
    ("workflow-failure", "batched"),
    ("endpoint-outage", "per-event"),
    ("cdc-source-outage", "batched"),
]
SOAK_DRILL_MODES = [
    ("workflow-failure", "per-event"),
    ("endpoint-outage", "batched"),
    ("cdc-source-outage", "per-event"),
]


@pytest.mark.parametrize(
    ("name", "mode"),
    [*DRILL_MODES, *(pytest.param(*c, marks=pytest.mark.soak) for c in SOAK_DRILL_MODES)],
)
def test_pipeline_drill_passes_with_nothing_lost_or_applied_twice(lab, name, mode):
    args = ("drill", "run", name, "--delivery", mode, "--json")
    proc = run_cli(*args, config=lab.settings_file, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    assert report["passed"] is True
    assert report["delivery_mode"] == mode
    assert report["events_lost"] == 0 and report["duplicates_applied"] == 0
    assert report["rpo_seconds"] == 0.0 and report["rto_seconds"] > 0
    assert report["events_committed"] > 100
    assert report["events_applied"] == report["events_committed"]
    assert all(step["ok"] for step in report["steps"])
    if name == "workflow-failure":
        assert report["dead_lettered_by_bad_version"] > 0  # the bad version really failed
    elif name == "endpoint-outage":
        assert report["breaker_opened"] and report["worker_not_ready_during_outage"]
    else:
        assert report["writes_refused_while_down"] > 0  # the database really was down
    history = json.loads(
        run_cli("drill", "history", "--scenario", name, "--json", config=lab.settings_file).stdout
    )
    assert history[0]["id"] == report["id"] and history[0]["delivery_mode"] == mode


def test_demo_shows_data_flowing_to_all_three_clients(lab):
    port = str(free_ports(1)[0])
    try:
        proc = run_cli(
            "demo",
            "up",
            "--rate",
            "20",
            "--endpoint-port",
            port,
            "--json",
            config=lab.settings_file,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        demo_config = json.loads(proc.stdout)["config"]

        def all_clients_applied() -> bool:
            doc = json.loads(run_cli("demo", "status", "--json", config=demo_config).stdout)
            channels = doc["endpoint"].get("channels", {})
            return all(
                channels.get(c, {}).get("applied", 0) > 0
                for c in ("client-a", "client-b", "client-c")
            )

        assert wait_until(all_clients_applied, 120, interval=2)
        again = run_cli("demo", "up", "--endpoint-port", port, "--json", config=demo_config)
        assert again.returncode == 0, again.stderr
        steps = json.loads(again.stdout)["steps"]
        assert not [s for s in steps if s.startswith(("started", "published", "generated"))]
        assert "already deployed" in " ".join(steps)
        doc = json.loads(run_cli("demo", "status", "--json", config=demo_config).stdout)
        assert doc["workers"]["ready"] is True
        assert all(doc["processes"].values())
    finally:
        run_cli("demo", "down", config=lab.settings_file)
