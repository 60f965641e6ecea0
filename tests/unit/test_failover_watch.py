"""`failover watch`: the follow loop with fake probes and a fake clock, and the thin CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from streamdr.cli import failover_watch
from streamdr.cli.app import app
from streamdr.errors import InputError
from streamdr.replication.failover.auto_watch import AutoFailover
from streamdr.settings.failover import AutomaticFailover
from tests.conftest import run_cli
from tests.unit.test_cli_errors import assert_clean_error

POLICY = AutomaticFailover(enabled=True, detect_after=10, require_observers=2, cool_down=600)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _down(*sites: str):
    return lambda site: site not in sites


def _watcher(policy, observers, switch, **kw) -> tuple[AutoFailover, list]:
    clock = FakeClock()
    rounds: list = []
    w = AutoFailover(
        policy,
        observers,
        ("primary", "dr"),
        "primary",
        switch,
        interval=5.0,
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )
    return w, rounds


def test_follow_fails_over_once_then_watches_the_new_site():
    switched, results = [], []
    w, rounds = _watcher(
        POLICY,
        {"a": _down("primary"), "b": _down("primary"), "c": _down()},
        lambda target: switched.append(target) or {"passed": True},
    )
    w.follow(
        lambda seen, d: rounds.append((seen, d)), lambda r: results.append(r) or True, rounds=5
    )
    assert [d.action for _, d in rounds] == ["suspect", "suspect", "failover", "healthy", "healthy"]
    assert switched == ["dr"] and results[0].target == "dr"
    assert w.active == "dr"
    # Each round reports that round's observations, of the site watched then.
    first, last = rounds[0][0], rounds[-1][0]
    assert {o.observer: o.up for o in first} == {"a": False, "b": False, "c": True}
    assert {o.site for o in first} == {"primary"} and {o.site for o in last} == {"dr"}


def test_one_observer_cut_off_never_acts():
    switched = []
    w, rounds = _watcher(
        POLICY,
        {"edge": _down("primary"), "wan": _down(), "direct": _down()},
        lambda target: switched.append(target) or {"passed": True},
    )
    w.follow(lambda seen, d: rounds.append(d.action), lambda r: True, rounds=10)
    assert set(rounds) == {"suspect"} and switched == []


def test_approval_mode_pages_and_a_refusal_keeps_the_site():
    pages, switched, results = [], [], []
    policy = POLICY.model_copy(update={"mode": "approval", "approval_timeout": 30})
    w, rounds = _watcher(
        policy,
        {"a": _down("primary"), "b": _down("primary")},
        lambda target: switched.append(target) or {"passed": True},
        page=lambda doc: pages.append(doc) or "paged",
        approval=lambda: False,
    )
    w.follow(lambda seen, d: rounds.append(d.action), lambda r: results.append(r) or True, rounds=3)
    assert rounds[-1] == "page" and switched == [] and w.active == "primary"
    assert pages[0]["event"] == "failover-approval-needed" and pages[0]["target"] == "dr"
    assert results[0].paged == "paged" and results[0].approved is False


def test_a_disabled_policy_shows_what_it_would_do_and_never_acts():
    switched, results = [], []
    w, rounds = _watcher(
        POLICY.model_copy(update={"enabled": False}),
        {"a": _down("primary"), "b": _down("primary")},
        lambda target: switched.append(target) or {"passed": True},
    )
    w.follow(lambda seen, d: rounds.append(d.action), lambda r: results.append(r) or True, rounds=4)
    assert rounds == ["suspect", "suspect", "failover", "failover"]
    assert switched == [] and results == [] and w.active == "primary"


def test_a_failed_switch_ends_the_watch():
    calls = []
    w, rounds = _watcher(
        POLICY,
        {"a": _down("primary"), "b": _down("primary")},
        lambda target: calls.append(target) or {"passed": False},
    )
    w.follow(lambda seen, d: rounds.append(d.action), lambda r: False, rounds=20)
    assert calls == ["dr"] and len(rounds) == 3


def test_quorum_larger_than_the_observers_is_refused():
    failover_watch.check_quorum(3, 3)
    with pytest.raises(InputError) as exc:
        failover_watch.check_quorum(4, 3)
    assert exc.value.hint


def test_watch_off_the_lab_is_a_clean_error(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n")
    assert_clean_error(run_cli("failover", "watch", config=cfg), 2)


def test_watch_prints_each_round_and_ctrl_c_exits_0(tmp_path, monkeypatch):
    cfg = tmp_path / "streamdr.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        "  dr:\n    bootstrap_servers: 127.0.0.1:2\n"
    )
    probes = {"n": 0}

    def probe(site: str) -> bool:
        probes["n"] += 1
        if probes["n"] > 4:  # the third round: the operator presses Ctrl-C
            raise KeyboardInterrupt
        return site != "primary"

    monkeypatch.setattr(failover_watch, "observers_for", lambda s: {"a": probe, "b": probe})
    result = CliRunner().invoke(
        app, ["--config", str(cfg), "failover", "watch", "--interval", "0.2"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "primary:" in line]
    assert len(lines) == 2
    assert "a DOWN, b DOWN" in lines[0] and "would suspect (not acting)" in lines[0]
    # The runbook command is unchanged by the group: no --to is still its own error.
    bare = CliRunner().invoke(app, ["--config", str(cfg), "failover"])
    assert isinstance(bare.exception, InputError) and "--to" in bare.exception.message


def test_watch_json_is_one_line_per_round(tmp_path, monkeypatch):
    cfg = tmp_path / "streamdr.yaml"
    cfg.write_text(
        "sites:\n  primary:\n    bootstrap_servers: 127.0.0.1:1\n"
        "  dr:\n    bootstrap_servers: 127.0.0.1:2\n"
    )
    calls = {"n": 0}

    def probe(site: str) -> bool:
        calls["n"] += 1
        if calls["n"] > 6:
            raise KeyboardInterrupt
        return True

    monkeypatch.setattr(failover_watch, "observers_for", lambda s: {"a": probe, "b": probe})
    result = CliRunner().invoke(
        app, ["--config", str(cfg), "failover", "watch", "--interval", "0.2", "--json"]
    )
    assert result.exit_code == 0, result.output
    rounds = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rounds) == 3
    assert rounds[0]["observations"] == {"a": True, "b": True}
    assert rounds[0]["decision"] == "healthy" and rounds[0]["acting"] is False
