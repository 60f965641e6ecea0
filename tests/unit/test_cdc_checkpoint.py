"""CDC checkpoints: encoding, and which site holds changes the source already forgot."""

from typing import ClassVar

from streamdr.errors import UnreachableError
from streamdr.pipeline.cdc import checkpoint
from streamdr.pipeline.cdc.checkpoint import Checkpoint, newest_past
from streamdr.settings.model import SiteSettings


def cp(position):
    return Checkpoint("orders", "postgres", position, f"0/{position:X}", None, "2026-11-29T00:00")


def test_a_checkpoint_round_trips_through_its_record_value():
    assert Checkpoint.from_json(cp(42).to_json()) == cp(42)


def test_the_newest_checkpoint_past_the_position_names_its_site():
    found = {"dr": cp(90), "eu": cp(120), "us": None}
    assert newest_past(found, 80) == ("eu", cp(120))
    assert newest_past(found, 100) == ("eu", cp(120))


def test_no_site_past_the_position_holds_nothing():
    assert newest_past({"dr": cp(80), "eu": None}, 80) is None
    assert newest_past({}, 0) is None


class SlowThenUp:
    """A KafkaAdmin stand-in: the metadata probe fails ``failures`` times, then answers."""

    calls: ClassVar[list[float]] = []
    failures = 0

    def __init__(self, name, site, timeout):
        self.name = name

    def metadata(self, timeout):
        SlowThenUp.calls.append(timeout)
        if len(SlowThenUp.calls) <= SlowThenUp.failures:
            raise UnreachableError(f"site {self.name!r} did not answer in {timeout}s")


def probe(monkeypatch, failures):
    SlowThenUp.calls, SlowThenUp.failures = [], failures
    monkeypatch.setattr(checkpoint, "KafkaAdmin", SlowThenUp)
    monkeypatch.setattr(checkpoint, "read_checkpoint", lambda name, site, source: cp(120))
    site = SiteSettings(bootstrap_servers="127.0.0.1:1")
    return checkpoint.checkpoints_elsewhere({"dr": site}, "orders", timeouts=(0.1, 0.3))


def test_a_site_slow_to_answer_once_is_asked_again(monkeypatch):
    assert probe(monkeypatch, failures=1) == {"dr": cp(120)}
    assert SlowThenUp.calls == [0.1, 0.3]


def test_a_site_that_never_answers_leaves_nothing_concluded(monkeypatch):
    assert probe(monkeypatch, failures=2) is None
    assert SlowThenUp.calls == [0.1, 0.3]
