"""The control plane without Kafka: schedule settings, start-up checks, leases, runs, probes."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import stamina
from fastapi import APIRouter
from fastapi.testclient import TestClient

from streamdr.clock import utcnow
from streamdr.errors import InputError, UnreachableError
from streamdr.harness.polling import poll_until
from streamdr.observe.metrics import REGISTRY
from streamdr.serve import jobs as job_kinds
from streamdr.serve.app import build_app
from streamdr.serve.history import (
    fail_abandoned,
    paused_jobs,
    recent_runs,
    set_paused,
    start_run,
)
from streamdr.serve.lease import Lease
from streamdr.serve.runner import FAILED, SKIPPED, SUCCEEDED, ServeContext, run_job
from streamdr.serve.scheduler import ControlPlane, trigger_of
from streamdr.serve.validate import validate_schedule
from streamdr.settings import load_settings
from streamdr.store.db import MetadataStore
from streamdr.yamldoc import DocumentError

BASE = "sites:\n  a:\n    bootstrap_servers: localhost:1\nmetadata_db:\n  url: sqlite:///meta.db\n"


def _settings(tmp_path: Path, schedule: str):
    path = tmp_path / "streamdr.yaml"
    path.write_text(BASE + schedule)
    return load_settings(path)


def _ctx(tmp_path: Path, schedule: str, owner: str = "me", ttl: float = 5) -> ServeContext:
    settings = _settings(tmp_path, schedule)
    return ServeContext(
        settings, MetadataStore.from_settings(settings), owner, timedelta(seconds=ttl)
    )


BEAT = "schedule:\n  jobs:\n    beat:\n      kind: heartbeat\n      every: 1\n"
FAILING = "schedule:\n  jobs:\n    beat:\n      kind: heartbeat\n      every: 1\n      fail: true\n"


@pytest.mark.parametrize(
    ("job", "line", "message"),
    [
        ("      kind: nosuch\n      every: 1\n", 9, "Input should be"),
        ("      kind: check\n      cron: '0 99 * * *'\n", 10, "bad cron expression"),
        ("      kind: check\n", 8, "exactly one of every"),
        ("      kind: check\n      every: 1\n      cron: '* * * * *'\n", 8, "exactly one"),
        ("      kind: drill\n      every: 60\n", 8, "needs drill"),
        ("      kind: drill\n      drill: site-failover\n      every: 60\n", 8, "not safe"),
    ],
)
def test_bad_jobs_are_refused_at_load_with_file_line(tmp_path, job, line, message):
    with pytest.raises(DocumentError) as caught:
        _settings(tmp_path, "schedule:\n  jobs:\n    j:\n" + job)
    assert f"streamdr.yaml:{line}:" in str(caught.value)
    assert message in str(caught.value)


def test_a_job_missing_a_required_setting_is_refused_at_start_with_its_line(tmp_path):
    settings = _settings(
        tmp_path,
        "schedule:\n  jobs:\n    ok:\n      kind: check\n      every: 5\n"
        "    bundle:\n      kind: config-backup\n      every: 60\n"
        "    verify:\n      kind: backup-verify\n      every: 60\n      targets: [nope]\n",
    )
    with pytest.raises(DocumentError) as caught:
        validate_schedule(settings)
    shown = [str(e) for e in caught.value.errors]
    assert any(":12:7: schedule.jobs.bundle.kind: " in s and "config_repo" in s for s in shown)
    assert any("schedule.jobs.verify.kind" in s and "store" in s for s in shown)
    assert any(":17:7: schedule.jobs.verify.targets: unknown stores" in s for s in shown)


def test_triggers_are_interval_or_utc_cron(tmp_path):
    jobs = _settings(
        tmp_path,
        "schedule:\n  jobs:\n    i:\n      kind: check\n      every: 90\n"
        "    c:\n      kind: check\n      cron: '30 2 * * 1'\n",
    ).schedule.jobs
    assert str(trigger_of(jobs["i"])) == "interval[0:01:30]"
    assert "hour='2', minute='30'" in str(trigger_of(jobs["c"]))
    assert str(trigger_of(jobs["c"]).timezone) == "UTC"


def test_a_lease_has_one_holder_until_it_expires(tmp_path):
    store = _ctx(tmp_path, BEAT).store
    ttl = timedelta(seconds=10)
    a, b = Lease(store, "scheduler", "a", ttl), Lease(store, "scheduler", "b", ttl)
    now = utcnow()
    assert a.try_acquire(now)
    assert not b.try_acquire(now + timedelta(seconds=5))
    assert a.try_acquire(now + timedelta(seconds=5))  # renewal by the holder
    assert not b.try_acquire(now + timedelta(seconds=14))
    assert b.try_acquire(now + timedelta(seconds=16))  # a stopped renewing: b takes over
    assert not a.renew(now + timedelta(seconds=16))
    b.release()
    assert a.try_acquire(now + timedelta(seconds=16))


def test_a_run_is_recorded_with_outcome_duration_and_error(tmp_path):
    ctx = _ctx(tmp_path, FAILING)
    outcome = run_job(ctx, "beat", "scheduled")
    assert outcome.outcome == FAILED
    (row,) = recent_runs(ctx.store, "beat")
    assert row["status"] == "failed"
    assert "heartbeat told to fail" in row["error"]
    assert row["duration_seconds"] is not None and row["finished_at"] is not None
    assert row["owner"] == "me" and row["trigger"] == "scheduled"


def test_a_paused_job_is_skipped_when_scheduled_but_runs_by_hand(tmp_path):
    ctx = _ctx(tmp_path, BEAT)
    set_paused(ctx.store, "beat", True, "tester")
    assert paused_jobs(ctx.store) == {"beat"}
    assert run_job(ctx, "beat", "scheduled").outcome == SKIPPED
    assert run_job(ctx, "beat", "manual").outcome == SUCCEEDED
    set_paused(ctx.store, "beat", False, "tester")
    assert run_job(ctx, "beat", "scheduled").outcome == SUCCEEDED
    assert [r["trigger"] for r in recent_runs(ctx.store, "beat")] == ["scheduled", "manual"]


def test_a_job_running_elsewhere_is_skipped(tmp_path):
    ctx = _ctx(tmp_path, BEAT)
    assert Lease(ctx.store, "job:beat", "other", ctx.lease_ttl).try_acquire()
    outcome = run_job(ctx, "beat", "manual")
    assert outcome.outcome == SKIPPED and outcome.error == "running elsewhere"
    assert recent_runs(ctx.store, "beat") == []


def test_an_unreachable_dependency_is_retried_then_recorded(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path, BEAT.replace("every: 1\n", "every: 1\n      retries: 2\n"))
    calls = []

    def flaky(settings, store, spec):
        calls.append(1)
        if len(calls) < 3:
            raise UnreachableError("site down", hint="wait")
        return {"ok": True}

    monkeypatch.setitem(job_kinds.JOB_KINDS, "heartbeat", flaky)
    stamina.set_testing(True, attempts=3)
    try:
        assert run_job(ctx, "beat", "manual").outcome == SUCCEEDED
    finally:
        stamina.set_testing(False)
    assert recent_runs(ctx.store, "beat")[0]["attempts"] == 3


def test_runs_left_running_by_a_dead_owner_are_failed_with_the_reason(tmp_path):
    store = _ctx(tmp_path, BEAT).store
    dead, _ = start_run(store, "beat", "heartbeat", "scheduled", "dead-owner")
    alive, _ = start_run(store, "beat", "heartbeat", "manual", "live-owner")
    assert fail_abandoned(store, {"live-owner"}, "owner died") == [dead]
    rows = {r["id"]: r for r in recent_runs(store)}
    assert rows[dead]["status"] == "failed" and rows[dead]["error"] == "owner died"
    assert rows[alive]["status"] == "running"


def test_only_the_lease_holder_leads_and_a_standby_takes_over_after_expiry(tmp_path):
    a = ControlPlane(_ctx(tmp_path, BEAT, owner="a", ttl=1))
    b = ControlPlane(_ctx(tmp_path, BEAT, owner="b", ttl=1))
    run_job(a.ctx, "beat", "manual")
    done_at = utcnow()
    try:
        a.step()
        b.step()
        assert a.leader and not b.leader
        a.scheduler.shutdown(wait=False)  # a "dies": no more renewals
        a.scheduler = None
        b.step()
        assert not b.leader  # a's lease is still live
        time.sleep(1.2)
        b.step()
        assert b.leader
        assert {j.id for j in b.scheduler.get_jobs()} == {"beat"}
        assert REGISTRY.get_sample_value(
            "streamdr_serve_job_last_success_timestamp_seconds", {"job": "beat"}
        ) == pytest.approx(done_at.timestamp(), abs=1)
    finally:
        b.stop()


def test_probes_and_extra_routers(tmp_path):
    extra = APIRouter()

    @extra.get("/dashboard")
    def dashboard() -> dict:
        return {"page": "dashboard"}

    state = {"ready": True}

    def ready() -> None:
        if not state["ready"]:
            raise UnreachableError("metadata DB down", hint="start it")

    client = TestClient(build_app(lambda: {"role": "standby"}, ready, [extra]))
    assert client.get("/health").json() == {"status": "ok", "role": "standby"}
    assert client.get("/ready").status_code == 200
    state["ready"] = False
    assert client.get("/ready").status_code == 503
    assert "streamdr_serve_job_runs_total" in client.get("/metrics").text
    assert client.get("/dashboard").json() == {"page": "dashboard"}


def test_jobs_cli_refuses_an_unknown_job(tmp_path):
    from typer.testing import CliRunner

    from streamdr.cli.app import app

    (tmp_path / "streamdr.yaml").write_text(BASE + BEAT)
    result = CliRunner().invoke(
        app, ["--config", str(tmp_path / "streamdr.yaml"), "jobs", "pause", "nope"]
    )
    assert isinstance(result.exception, InputError)
    assert "unknown job 'nope'" in str(result.exception)


def test_runs_missed_while_no_one_led_are_coalesced_into_one(tmp_path):
    schedule = "schedule:\n  jobs:\n    beat:\n      kind: heartbeat\n      every: 2\n"
    a = ControlPlane(_ctx(tmp_path, schedule, owner="a", ttl=1))
    a.step()
    stored = a.scheduler.get_job("beat").next_run_time
    a.stop()  # the job stays in the job store with its next run time
    time.sleep(6.5)  # three runs are missed while no serve leads
    b = ControlPlane(_ctx(tmp_path, schedule, owner="b", ttl=1))
    try:
        b.step()
        assert b.scheduler.get_job("beat").next_run_time != stored  # it already fired
        assert poll_until(lambda: len(recent_runs(b.ctx.store, "beat")) >= 1, 5, 0.1)
        time.sleep(0.3)  # uncoalesced, the other missed runs would follow at once
        assert len(recent_runs(b.ctx.store, "beat")) == 1
    finally:
        b.stop()
