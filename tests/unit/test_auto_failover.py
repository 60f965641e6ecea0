import pytest
from pydantic import ValidationError

from streamdr.errors import InputError, UnreachableError
from streamdr.replication.failover.auto_policy import (
    Observation,
    choose_target,
    decide,
    down_since,
)
from streamdr.replication.failover.auto_watch import AutoFailover
from streamdr.settings import parse_settings
from streamdr.settings.failover import AutomaticFailover

POLICY = AutomaticFailover(enabled=True, detect_after=10, require_observers=2, cool_down=600)


def _obs(observer, *times_up):
    return [Observation(observer, "primary", at, up) for at, up in times_up]


def test_disabled_by_default():
    assert decide(AutomaticFailover(), _obs("a", (0, False)), "primary", 100).action == "disabled"


def test_two_observers_down_long_enough_fail_over():
    seen = _obs("a", (0, True), (5, False), (20, False)) + _obs("b", (8, False), (21, False))
    d = decide(POLICY, seen, "primary", now=21)
    assert d.action == "failover"
    assert d.down_since == 8  # the quorum holds from the second observer's first "down"
    assert d.observers_down == ("a", "b")


def test_quorum_not_yet_held_for_detect_after_is_suspect():
    seen = _obs("a", (5, False), (16, False)) + _obs("b", (12, False), (16, False))
    assert decide(POLICY, seen, "primary", now=16).action == "suspect"


def test_one_observer_partitioned_from_the_site_never_fails_over():
    seen = _obs("edge", *[(t, False) for t in range(0, 300, 5)])
    seen += _obs("wan", *[(t, True) for t in range(0, 300, 5)])
    seen += _obs("direct", *[(t, True) for t in range(0, 300, 5)])
    d = decide(POLICY, seen, "primary", now=295)
    assert d.action == "suspect" and d.observers_down == ("edge",)


def test_an_up_report_restarts_the_down_run():
    seen = _obs("a", (0, False), (9, True), (10, False), (15, False))
    assert down_since(seen, "primary", now=15, fresh=30) == {"a": 10}
    seen += _obs("b", (0, False), (15, False))
    assert decide(POLICY, seen, "primary", now=15).action == "suspect"  # a: down 5 s only


def test_stale_observer_has_no_vote():
    seen = _obs("a", (0, False), (100, False)) + _obs("b", (0, False), (40, False))
    assert down_since(seen, "primary", now=100, fresh=30) == {"a": 0}
    assert decide(POLICY, seen, "primary", now=100).action == "suspect"


def test_cool_down_and_approval_mode():
    seen = _obs("a", (0, False), (30, False)) + _obs("b", (0, False), (30, False))
    assert decide(POLICY, seen, "primary", 30, last_failover_at=0).action == "cooling_down"
    assert decide(POLICY, seen, "primary", 30, last_failover_at=-1000).action == "failover"
    paging = POLICY.model_copy(update={"mode": "approval"})
    assert decide(paging, seen, "primary", 30).action == "page"


def test_other_sites_reports_do_not_count():
    seen = [Observation("a", "dr", 0, False), Observation("b", "dr", 0, False)]
    assert decide(POLICY, seen, "primary", 50).action == "healthy"


def test_choose_target():
    assert choose_target(POLICY, ("primary", "dr"), "primary") == "dr"
    fixed = POLICY.model_copy(update={"target_site": "east"})
    assert choose_target(fixed, ("primary", "dr", "east"), "primary") == "east"
    assert choose_target(POLICY, ("primary",), "primary") is None


def test_settings_section():
    text = (
        "sites: {primary: {bootstrap_servers: 'a:1'}, dr: {bootstrap_servers: 'b:1'}}\n"
        "failover: {automatic: {enabled: true, detect_after: 15, require_observers: 3,"
        " cool_down: 60, mode: approval, target_site: dr}}\n"
    )
    auto = parse_settings(text, "x.yaml").failover.automatic
    assert (auto.enabled, auto.detect_after, auto.require_observers, auto.mode) == (
        True,
        15,
        3,
        "approval",
    )
    assert (
        parse_settings("sites: {p: {bootstrap_servers: 'a:1'}}\n", "y").failover.automatic.enabled
        is False
    )
    with pytest.raises(ValidationError):
        AutomaticFailover(require_observers=1)


def test_settings_reject_unknown_target(tmp_path):

    with pytest.raises(InputError):
        parse_settings(
            "sites: {p: {bootstrap_servers: 'a:1'}}\nfailover: {automatic: {target_site: q}}\n", "z"
        )


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _watcher(up_by_observer, **kw):
    clock = FakeClock()
    switched = []

    def probe_for(name):
        def probe(site):
            if up_by_observer[name] is None:
                raise UnreachableError("no answer")
            return up_by_observer[name]

        return probe

    w = AutoFailover(
        POLICY.model_copy(update=kw.pop("policy", {})),
        {n: probe_for(n) for n in up_by_observer},
        ("primary", "dr"),
        "primary",
        switch=lambda target: switched.append(target) or {"passed": True},
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )
    return w, clock, switched


def test_watch_fails_over_after_detect_after_when_the_site_is_lost():
    w, _clock, switched = _watcher({"a": None, "b": False, "c": False})
    result = w.watch(timeout=120)
    assert switched == ["dr"] and result.target == "dr"
    assert 10 <= result.decided_at - 1000 <= 12
    assert w.last_failover_at is not None


def test_watch_does_not_fail_over_when_one_observer_is_cut_off():
    w, _clock, switched = _watcher({"a": False, "b": True, "c": True})
    result = w.watch(timeout=60)
    assert switched == [] and result.decision.action == "suspect"


def test_approval_mode_pages_and_waits_for_a_human():
    pages = []
    answers = iter([None, None, True])
    w, _clock, switched = _watcher(
        {"a": False, "b": False},
        policy={"mode": "approval"},
        page=lambda doc: pages.append(doc) or "paged",
        approval=lambda: next(answers),
    )
    result = w.watch(timeout=60)
    assert pages[0]["event"] == "failover-approval-needed" and pages[0]["target"] == "dr"
    assert result.paged == "paged" and result.approved is True and switched == ["dr"]


def test_approval_refused_or_timed_out_does_not_switch():
    w, _clock, switched = _watcher(
        {"a": False, "b": False},
        policy={"mode": "approval", "approval_timeout": 5},
        approval=lambda: None,
    )
    result = w.watch(timeout=60)
    assert result.approved is False and switched == []


def test_unknown_observers_never_make_a_quorum_of_down():
    # Every remote observer unreachable for minutes, one observer seeing the site down.
    seen = _obs("a", *[(t, None) for t in range(0, 300, 5)])
    seen += _obs("b", *[(t, None) for t in range(0, 300, 5)])
    seen += _obs("c", *[(t, False) for t in range(0, 300, 5)])
    d = decide(POLICY, seen, "primary", now=295)
    assert d.action == "suspect" and d.observers_down == ("c",)
    only_unknown = _obs("a", (0, None), (50, None)) + _obs("b", (0, None), (50, None))
    assert decide(POLICY, only_unknown, "primary", now=50).action == "healthy"


def test_enough_down_observers_fail_over_beside_an_unknown_one():
    seen = _obs("a", (0, False), (12, False)) + _obs("b", (1, False), (12, False))
    seen += _obs("c", (0, None), (12, None))
    d = decide(POLICY, seen, "primary", now=12)
    assert d.action == "failover" and d.observers_down == ("a", "b")


def test_an_unknown_report_ends_the_down_run():
    seen = _obs("a", (0, False), (9, None), (10, False), (15, False))
    assert down_since(seen, "primary", now=15, fresh=30) == {"a": 10}
    latest_unknown = _obs("a", (0, False), (20, None))
    assert down_since(latest_unknown, "primary", now=20, fresh=30) == {}


def test_watch_never_fails_over_while_observers_cannot_tell():
    def unknown(site):
        return None

    def refused(site):
        raise InputError("environment variable X is not set")

    clock = FakeClock()
    switched = []
    w = AutoFailover(
        POLICY,
        {"a": unknown, "b": refused, "c": lambda site: False},
        ("primary", "dr"),
        "primary",
        switch=lambda target: switched.append(target) or {"passed": True},
        clock=clock,
        sleep=clock.sleep,
    )
    result = w.watch(timeout=120)
    assert switched == [] and result.decision.action == "suspect"
    assert {o.observer: o.up for o in w.observations[-3:]} == {"a": None, "b": None, "c": False}
    assert [o.seen for o in w.observations[-3:]] == ["unknown", "unknown", "DOWN"]
